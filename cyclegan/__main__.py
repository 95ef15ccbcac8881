from cyclegan.cli.main import main

main()
