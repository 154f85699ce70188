/* The two float16 columns (N x C outputs in float16, and in float32) for one conversion path, defined by
 * CE_F16_SUF / CE_F16_SUFF / CE_F16_LD / CE_F16_ST just before (see _rowmath.c); forgets them after. */
#define CE_S uint16_t
#define CE_T float
#define CE_K(v) v##f
#define CE_SUF CE_F16_SUF
#define CE_MSUF f32
#define CE_LD(v) CE_F16_LD(v)
#define CE_ST(v) CE_F16_ST(v)
#define CE_SR float
#define CE_LDR(v) (v)
#define CE_STR(v) (v)
#define CE_KEEP_EXPS 0   /* float16 gradient rows are too narrow to hold the exps */
#define CE_NARROW_ROW ce_narrow_row_f16   /* staged rows' N x C outputs (_ce_widen.h) */
#define CE_NAME "float16"
#define CE_NPY NPY_HALF
#define CE_TABLE_KIND CE_TABLE_F16
#include CE_INSTANTIATE

#define CE_S uint16_t
#define CE_T float
#define CE_K(v) v##f
#define CE_SUF CE_F16_SUFF
#define CE_MSUF f32
#define CE_LD(v) CE_F16_LD(v)
#define CE_ST(v) CE_F16_ST(v)
#define CE_SR float
#define CE_LDR(v) (v)
#define CE_STR(v) (v)
#define CE_SG float
#define CE_LDG(v) (v)
#define CE_STG(v) (v)
#define CE_KEEP_EXPS 1
#define CE_NAME "float16->float32"
#define CE_NPY NPY_HALF
#define CE_TABLE_KIND CE_TABLE_F16
#include CE_INSTANTIATE

#undef CE_F16_SUF
#undef CE_F16_SUFF
#undef CE_F16_LD
#undef CE_F16_ST
