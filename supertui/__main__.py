from supertui.cli import main

raise SystemExit(main())
