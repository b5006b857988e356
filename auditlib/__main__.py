from auditlib.cli.main import main

raise SystemExit(main())
