from gaussea.cli import main

raise SystemExit(main())
