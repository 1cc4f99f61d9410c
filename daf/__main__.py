import sys

from daf.cli import main

sys.exit(main())
