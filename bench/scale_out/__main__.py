import sys

from bench.scale_out.run import main

sys.exit(main())
