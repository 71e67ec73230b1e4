from coagent.cli import main

main()
