/* Transposing a matrix of float or double by tiles of 16 bytes square (4 x 4 floats, 2 x 2 doubles) held in
 * registers: the few-class block kernel reads its rows into a class-major block and writes its gradient back
 * through it.  Element by element, that copy (one load and one store at a stride per element) took about as
 * long as the block's exps.  The shuffles are GCC / clang vector extensions, so every SIMD clone compiles
 * them for its own instruction set; other compilers take the element-wise copy.  Tiles of 32 bytes (8 x 8
 * floats) were 8% faster on AVX-512 but slower than element-wise copies on AVX2 and SSE2 (rowbench). */
#ifndef CROSSENTROPY_CE_TRANSPOSE_H
#define CROSSENTROPY_CE_TRANSPOSE_H

#if ((defined(__GNUC__) && __GNUC__ >= 12) || defined(__clang__)) && !defined(CE_NO_TILES)
#define CE_TILES 1
typedef float ce_v4f __attribute__((vector_size(16)));   /* loaded and stored by memcpy: any alignment */
typedef double ce_v2d __attribute__((vector_size(16)));
#define CE_SHUF __builtin_shufflevector

/* dst row c = src column c of a 4 x 4 float tile (row strides in bytes, any alignment) */
CE_INLINE void ce_tile_transpose_f32(const char *src, npy_intp ss, char *dst, npy_intp ds)
{
    ce_v4f r[4];
    for (int k = 0; k < 4; k++) memcpy(&r[k], src + k * ss, sizeof r[k]);
    ce_v4f t0 = CE_SHUF(r[0], r[1], 0, 4, 1, 5), t1 = CE_SHUF(r[0], r[1], 2, 6, 3, 7);   /* rows 0, 1 interleaved */
    ce_v4f t2 = CE_SHUF(r[2], r[3], 0, 4, 1, 5), t3 = CE_SHUF(r[2], r[3], 2, 6, 3, 7);   /* rows 2, 3 */
    ce_v4f o[4] = {CE_SHUF(t0, t2, 0, 1, 4, 5), CE_SHUF(t0, t2, 2, 3, 6, 7), CE_SHUF(t1, t3, 0, 1, 4, 5),
                   CE_SHUF(t1, t3, 2, 3, 6, 7)};
    for (int k = 0; k < 4; k++) memcpy(dst + k * ds, &o[k], sizeof o[k]);
}

/* dst row c = src column c of a 2 x 2 double tile */
CE_INLINE void ce_tile_transpose_f64(const char *src, npy_intp ss, char *dst, npy_intp ds)
{
    ce_v2d r0, r1;
    memcpy(&r0, src, sizeof r0);
    memcpy(&r1, src + ss, sizeof r1);
    ce_v2d o0 = CE_SHUF(r0, r1, 0, 2), o1 = CE_SHUF(r0, r1, 1, 3);
    memcpy(dst, &o0, sizeof o0);
    memcpy(dst + ds, &o1, sizeof o1);
}

/* the tile of elements of `size` bytes (4 or 8, a constant at each call site) */
CE_INLINE void ce_tile_transpose(const char *src, npy_intp ss, char *dst, npy_intp ds, const int size)
{
    if (size == 4) ce_tile_transpose_f32(src, ss, dst, ds);
    else ce_tile_transpose_f64(src, ss, dst, ds);
}
#undef CE_SHUF
#else
#define CE_TILES 0
#endif

/* dst[c][r] = src[r][c] for r < rows, c < cols (a block's sides: small ints): elements of `size` bytes (4 or
 * 8, a constant at each call site), row strides in bytes, src and dst apart.  Whole tiles in registers; a side
 * that is not a multiple of the tile's ends with a tile overlapping the one before it (the same values written
 * twice: an element-wise edge made rows of 10 classes slower than no tiles at all), and sides shorter than a
 * tile go element by element. */
CE_INLINE void ce_transpose(const char *src, npy_intp ss, char *dst, npy_intp ds, int rows, int cols, const int size)
{
    const int w = 16 / size;   /* tile side */
    const npy_intp sz = size;
#if CE_TILES
    if (rows >= w && cols >= w) {
        /* a row of tiles by pointer steps: the tile origin computed per tile took more instructions than the
         * tile's shuffles and stores */
        const int whole = cols - cols % w;   /* columns in whole tiles; the rest ends with the tile at cols - w */
        const npy_intp s_step = w * sz, d_step = w * ds;
        for (int r0 = 0; r0 < rows; r0 += w) {
            const int r = r0 + w <= rows ? r0 : rows - w;
            const char *s = src + r * ss;
            char *d = dst + r * sz;
            for (int c = 0; c < whole; c += w, s += s_step, d += d_step) ce_tile_transpose(s, ss, d, ds, size);
            if (whole < cols)   /* the last tile, overlapping the one before */
                ce_tile_transpose(src + r * ss + (cols - w) * sz, ss, dst + (cols - w) * ds + r * sz, ds, size);
        }
        return;
    }
#endif
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) memcpy(dst + c * ds + r * sz, src + r * ss + c * sz, (size_t)sz);
}

#endif
