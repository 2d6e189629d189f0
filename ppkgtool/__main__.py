from ppkgtool.cli import main

raise SystemExit(main())
