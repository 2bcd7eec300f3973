from procwatch.cli import main

raise SystemExit(main())
