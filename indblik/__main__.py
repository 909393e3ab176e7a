from indblik.cli import main

main()
