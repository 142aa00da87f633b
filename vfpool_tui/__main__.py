from vfpool_tui.cli import main

raise SystemExit(main())
