from programmes.main import main

main()
