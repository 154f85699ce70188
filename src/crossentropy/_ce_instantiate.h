/* Instantiates the row-math templates for the element type defined just before (see _rowmath.c), then
 * forgets that type's macros so the next block can define its own. */
#include "_ce_sweeps_t.h"
#include "_ce_losses_t.h"
#include "_ce_rows_t.h"
#undef CE_S
#undef CE_T
#undef CE_K
#undef CE_SUF
#undef CE_MSUF
#undef CE_LD
#undef CE_ST
#undef CE_KEEP_EXPS
#undef CE_NAME
#undef CE_NPY
