#!/bin/sh
# Build the row-kernel microbenchmark against a source tree:  build.sh SRC_DIR OUT [extra cflags]
# e.g.  benchmarks/rows/build.sh src/crossentropy rowbench-v4 -march=x86-64-v4 -DCE_NO_CLONES -DROWS_API
set -e
SRC=$1; OUT=$2; shift 2
PY=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NP=$(python -c "import numpy; print(numpy.get_include())")
cc -I"$SRC" -I"$PY" -I"$NP" -DNDEBUG -std=c11 -O3 -fopenmp -DNPY_NO_DEPRECATED_API=NPY_1_23_API_VERSION \
   -fno-math-errno -fno-trapping-math -ffp-contract=fast "$@" "$SRC/_rowmath.c" "$(dirname "$0")/rowbench.c" -o "$OUT" -lm
