from monotreme.cli import main

main()
