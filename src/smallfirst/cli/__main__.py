from smallfirst.cli.main import main

main()
