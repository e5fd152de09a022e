"""`python -m monotreme_client`: the same as `monotreme-client`."""

from monotreme_client.cli import main

main()
