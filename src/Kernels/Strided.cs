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

    /// <summary>dst[i] = src[i] for every index i of <paramref name="shape"/>, both sides strided (stride 0 broadcasts the source).</summary>
    public static void Copy<T>(T* src, long[] srcStrides, T* dst, long[] dstStrides, int[] shape) where T : unmanaged
    {
        var (cs, cst) = Collapse(shape, srcStrides, dstStrides);
        long[] ss = cst[0], ds = cst[1];
        int nd = cs.Length;
        long inner = cs[nd - 1];
        long si = ss[nd - 1], di = ds[nd - 1];
        long outer = 1;
        for (int d = 0; d < nd - 1; d++)
        {
            outer *= cs[d];
        }
        if (inner == 0 || outer == 0)
        {
            return;
        }
        nint s = (nint)src, o = (nint)dst;
        Parallelism.For(outer, inner, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                T* sp = (T*)s + OuterOffset(r, cs, ss);
                T* dp = (T*)o + OuterOffset(r, cs, ds);
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
}
