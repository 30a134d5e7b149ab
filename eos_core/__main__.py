from eos_core.cli import main

raise SystemExit(main())
