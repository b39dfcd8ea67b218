using System.Runtime.Intrinsics.X86;

namespace Mlx.Kernels;

/// <summary>Shape and stride bookkeeping shared by the kernels: merging dims and walking strided memory.</summary>
public static unsafe class Strided
{
    /// <summary>
    /// Merges adjacent dims that are contiguous with each other in every operand (and drops size-1 dims), so a
    /// kernel walks as few and as long runs as possible. Returns the merged shape and one stride list per operand.
    /// </summary>
    public static (long[] Shape, long[][] Strides) Collapse(int[] shape, params long[][] strides)
    {
        int k = strides.Length;
        var outShape = new long[Math.Max(shape.Length, 1)];
        var outStrides = new long[k][];
        for (int j = 0; j < k; j++)
        {
            outStrides[j] = new long[outShape.Length];
        }
        int count = 0;
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1)
            {
                continue;
            }
            bool merge = count > 0;
            for (int j = 0; j < k && merge; j++)
            {
                merge = outStrides[j][count - 1] == strides[j][d] * shape[d];
            }
            if (merge)
            {
                outShape[count - 1] *= shape[d];
                for (int j = 0; j < k; j++)
                {
                    outStrides[j][count - 1] = strides[j][d];
                }
            }
            else
            {
                outShape[count] = shape[d];
                for (int j = 0; j < k; j++)
                {
                    outStrides[j][count] = strides[j][d];
                }
                count++;
            }
        }
        if (count == 0)
        {
            outShape[0] = 1;
            for (int j = 0; j < k; j++)
            {
                outStrides[j][0] = 1;
            }
            count = 1;
        }
        if (count < outShape.Length)
        {
            System.Array.Resize(ref outShape, count);
            for (int j = 0; j < k; j++)
            {
                System.Array.Resize(ref outStrides[j], count);
            }
        }
        return (outShape, outStrides);
    }

    /// <summary>True when <paramref name="strides"/> are the row-major strides of <paramref name="shape"/> (size-1 dims ignored).</summary>
    public static bool IsRowMajor(int[] shape, long[] strides)
    {
        long expected = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] != 1 && strides[i] != expected)
            {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /// <summary>True when every stride of a non-trivial dim is 0: one element broadcast everywhere.</summary>
    public static bool IsScalarBroadcast(int[] shape, long[] strides)
    {
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] != 1 && strides[i] != 0)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Row-major strides of <paramref name="shape"/>, in elements.</summary>
    public static long[] RowMajor(ReadOnlySpan<int> shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    /// <summary>Element offset of the row-major outer index <paramref name="outer"/> over all dims but the last.</summary>
    /// <summary>The multi-index of row <paramref name="outer"/> over all dims but the last (the start of a row walk).</summary>
    public static void RowIndex(long outer, long[] shape, Span<long> index)
    {
        for (int d = shape.Length - 2; d >= 0; d--)
        {
            index[d] = outer % shape[d];
            outer /= shape[d];
        }
    }

    /// <summary>
    /// Steps <paramref name="index"/> to the next row and moves two operands' offsets with it: an add per row where
    /// <see cref="OuterOffset"/> divides per dimension (rows of 16 channels under broadcast spatial dims cost more in
    /// those divisions than in their arithmetic).
    /// </summary>
    public static void NextRow(Span<long> index, long[] shape, long[] sa, long[] sb, ref long a, ref long b)
    {
        for (int d = shape.Length - 2; d >= 0; d--)
        {
            a += sa[d];
            b += sb[d];
            if (++index[d] < shape[d]) return;
            a -= sa[d] * shape[d];
            b -= sb[d] * shape[d];
            index[d] = 0;
        }
    }

    /// <summary>As above for three operands.</summary>
    public static void NextRow(Span<long> index, long[] shape, long[] sa, long[] sb, long[] sc, ref long a, ref long b, ref long c)
    {
        for (int d = shape.Length - 2; d >= 0; d--)
        {
            a += sa[d];
            b += sb[d];
            c += sc[d];
            if (++index[d] < shape[d]) return;
            a -= sa[d] * shape[d];
            b -= sb[d] * shape[d];
            c -= sc[d] * shape[d];
            index[d] = 0;
        }
    }

    public static long OuterOffset(long outer, long[] shape, long[] strides)
    {
        long offset = 0;
        for (int d = shape.Length - 2; d >= 0 && outer > 0; d--)
        {
            long i = outer % shape[d];
            outer /= shape[d];
            offset += i * strides[d];
        }
        return offset;
    }

    /// <summary>Copies a strided array into contiguous row-major memory at <paramref name="dst"/>.</summary>
    public static void Copy<T>(T* src, int[] shape, long[] strides, T* dst) where T : unmanaged =>
        Copy(src, strides, dst, RowMajor(shape), shape);

    /// <summary>Copies contiguous row-major <paramref name="src"/> into strided memory (the reverse of the gather above).</summary>
    public static void CopyInto<T>(T* src, int[] shape, long[] dstStrides, T* dst) where T : unmanaged =>
        Copy(src, RowMajor(shape), dst, dstStrides, shape);

    /// <summary>
    /// A plain copy of contiguous bytes, split across cores past 512 KB: one core falls short of the machine's copy
    /// bandwidth (a 32 MB copy, medians of 15 in one process: 3.2-3.6 ms as one MemoryCopy, 2.5-2.7 ms split in two).
    /// </summary>
    public static void CopyBytes(void* src, void* dst, long bytes)
    {
        const long Block = 1 << 16;
        bool overlap = (byte*)src < (byte*)dst + bytes && (byte*)dst < (byte*)src + bytes;
        if (bytes < 8 * Block || overlap)
        {
            // (Overlapping ranges keep MemoryCopy's memmove order: blocks copied in parallel could read what
            // another block already wrote.)
            System.Buffer.MemoryCopy(src, dst, bytes, bytes);
            return;
        }
        nint s = (nint)src, d = (nint)dst;
        Parallelism.For((bytes + Block - 1) / Block, Block / 4, (b0, b1) =>
        {
            long start = b0 * Block, end = Math.Min(bytes, b1 * Block);
            System.Buffer.MemoryCopy((byte*)s + start, (byte*)d + start, end - start, end - start);
        });
    }

    /// <summary>dst[i] = src[i] for every index i of <paramref name="shape"/>, both sides strided (stride 0 broadcasts the source).</summary>
    public static void Copy<T>(T* src, long[] srcStrides, T* dst, long[] dstStrides, int[] shape) where T : unmanaged
    {
        var (cs, cst) = Collapse(shape, srcStrides, dstStrides);
        long[] ss = cst[0], ds = cst[1];
        int nd = cs.Length;
        long inner = cs[nd - 1];
        long si = ss[nd - 1], di = ds[nd - 1];
        if (nd == 1 && si == 1 && di == 1)
        {
            CopyBytes(src, dst, inner * sizeof(T));
            return;
        }
        long outer = 1;
        for (int d = 0; d < nd - 1; d++)
        {
            outer *= cs[d];
        }
        if (inner == 0 || outer == 0)
        {
            return;
        }
        if (di == 1 && si != 1 && si != 0 && inner >= TransposeTile && TransposeTiled(src, ss, dst, ds, cs))
        {
            return;
        }
        nint s = (nint)src, o = (nint)dst;
        Parallelism.For(outer, inner, (start, end) =>
        {
            Span<long> index = stackalloc long[nd];
            RowIndex(start, cs, index);
            long so = OuterOffset(start, cs, ss), dof = OuterOffset(start, cs, ds);
            for (long r = start; r < end; r++, NextRow(index, cs, ss, ds, ref so, ref dof))
            {
                T* sp = (T*)s + so;
                T* dp = (T*)o + dof;
                if (si == 1 && di == 1)
                {
                    new ReadOnlySpan<T>(sp, (int)inner).CopyTo(new Span<T>(dp, (int)inner));
                }
                else if (si == 0 && di == 1)
                {
                    new Span<T>(dp, (int)inner).Fill(*sp);
                }
                else
                {
                    for (long i = 0; i < inner; i++)
                    {
                        dp[i * di] = sp[i * si];
                    }
                }
            }
        });
    }

    private const int TransposeTile = 32;

    /// <summary>
    /// True for a large operand whose innermost dim is strided while another of its dims is contiguous (a transposed
    /// or permuted view): read along the output's last dim, each element would sit on its own cache line.
    /// </summary>
    public static bool IsTransposed(int[] shape, long[] strides)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        if (n < Parallelism.ElementwiseThreshold)
        {
            return false;
        }
        var (cs, st) = Collapse(shape, strides);
        long[] s = st[0];
        int last = cs.Length - 1;
        if (s[last] == 0 || s[last] == 1 || cs[last] < TransposeTile)
        {
            return false;
        }
        for (int d = 0; d < last; d++)
        {
            if (s[d] == 1 && cs[d] >= TransposeTile)
            {
                return true;
            }
        }
        return false;
    }


    /// <summary>
    /// A copy whose destination runs along the last dim while the source runs along another (a transpose, or a
    /// permutation that moves the source's contiguous dim): element by element, every read would touch a new cache
    /// line and usually a new page (a 4096 x 4096 transpose took 53 ms). Instead, tiles of 32 x 32 elements are
    /// read along the source's contiguous dim and written along the destination's, both within lines in L1.
    /// Returns false when no other dim of the source is contiguous.
    /// </summary>
    private static bool TransposeTiled<T>(T* src, long[] ss, T* dst, long[] ds, long[] cs) where T : unmanaged
    {
        int nd = cs.Length, last = nd - 1, k = -1;
        for (int d = last - 1; d >= 0; d--)
        {
            if (ss[d] == 1 && cs[d] >= TransposeTile)
            {
                k = d;
                break;
            }
        }
        if (k < 0)
        {
            return false;
        }
        // The dims other than k and the last, walked as planes.
        var planeShape = new List<long>();
        var planeSrc = new List<long>();
        var planeDst = new List<long>();
        for (int d = 0; d < last; d++)
        {
            if (d != k)
            {
                planeShape.Add(cs[d]);
                planeSrc.Add(ss[d]);
                planeDst.Add(ds[d]);
            }
        }
        // A trailing unit dim, so OuterOffset (which walks all dims but the last) walks all of these.
        planeShape.Add(1);
        planeSrc.Add(0);
        planeDst.Add(0);
        long planes = 1;
        foreach (long n in planeShape) planes *= n;
        long rows = cs[k], cols = cs[last], srcCol = ss[last], dstRow = ds[k];
        long rowTiles = (rows + TransposeTile - 1) / TransposeTile;
        long[] pShape = planeShape.ToArray(), pSrc = planeSrc.ToArray(), pDst = planeDst.ToArray();
        nint sp = (nint)src, dp = (nint)dst;
        Parallelism.For(planes * rowTiles, TransposeTile * cols, (start, end) =>
        {
            for (long item = start; item < end; item++)
            {
                long plane = item / rowTiles, tile = item - plane * rowTiles;
                long so = OuterOffset(plane, pShape, pSrc), doff = OuterOffset(plane, pShape, pDst);
                long r0 = tile * TransposeTile, r1 = Math.Min(rows, r0 + TransposeTile);
                T* s0 = (T*)sp + so;
                T* d0 = (T*)dp + doff;
                bool blocks8 = sizeof(T) == 4 && Avx.IsSupported;
                for (long c0 = 0; c0 < cols; c0 += TransposeTile)
                {
                    long c1 = Math.Min(cols, c0 + TransposeTile);
                    long r = r0;
                    if (blocks8)
                    {
                        // 8 x 8 blocks transposed in registers: each source and destination row is touched as whole
                        // vectors (rows a multiple of 4 KB apart share one L1 set, so element-wise access thrashes it).
                        for (; r + 8 <= r1; r += 8)
                        {
                            long c = c0;
                            for (; c + 8 <= c1; c += 8)
                            {
                                Gemm.Transpose8x8((float*)(s0 + c * srcCol + r), srcCol, (float*)(d0 + r * dstRow + c), dstRow);
                            }
                            for (; c < c1; c++)
                            {
                                for (long rr = r; rr < r + 8; rr++)
                                {
                                    d0[rr * dstRow + c] = s0[c * srcCol + rr];
                                }
                            }
                        }
                    }
                    for (long c = c0; c < c1; c++)
                    {
                        T* sc = s0 + c * srcCol;
                        T* dc = d0 + c;
                        for (long rr = r; rr < r1; rr++)
                        {
                            dc[rr * dstRow] = sc[rr];
                        }
                    }
                }
            }
        });
        return true;
    }
}
