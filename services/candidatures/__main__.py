from candidatures.main import main

main()
