/* Instantiates the row-math templates for the element type defined just before (see _rowmath.c), then
 * forgets that type's macros so the next block can define its own. */
/* Optional: CE_NARROW_ROW(f, h, n, scale, keep, how), a contiguous float32 row (times scale, except entry
 * keep) stored in the N x C output type (staged half rows); without it the template's loop does. */
/* Output types default to the storage type: per-row results (CE_SR) and N x C outputs (CE_SG).  The half
 * columns set them (float32 row results; N x C outputs in half, or float32). */
#ifndef CE_SR
#define CE_SR CE_S
#define CE_LDR(v) CE_LD(v)
#define CE_STR(v) CE_ST(v)
#endif
#ifndef CE_SG
#define CE_SG CE_S
#define CE_LDG(v) CE_LD(v)
#define CE_STG(v) CE_ST(v)
#endif
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
#undef CE_SR
#undef CE_LDR
#undef CE_STR
#undef CE_SG
#undef CE_LDG
#undef CE_STG
#undef CE_NARROW_ROW
#undef CE_TABLE_KIND
