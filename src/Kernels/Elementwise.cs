using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mlx.Kernels;

/// <summary>An elementwise binary operator: a scalar rule and span forms for the three run shapes a kernel meets.</summary>
public interface IBinaryOp<T, TOut> where T : unmanaged where TOut : unmanaged
{
    static abstract TOut Apply(T a, T b);

    /// <summary>Both operands advance (stride 1).</summary>
    static virtual void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<TOut> o) => throw new NotSupportedException();

    static virtual bool HasSpanForms => false;

    /// <summary>The second operand broadcast (a scalar), then the first.</summary>
    static virtual void VS(ReadOnlySpan<T> a, T b, Span<TOut> o) => throw new NotSupportedException();

    static virtual void SV(T a, ReadOnlySpan<T> b, Span<TOut> o) => throw new NotSupportedException();

    static virtual bool HasScalarForms => false;
}

/// <summary>An elementwise unary operator.</summary>
public interface IUnaryOp<T, TOut> where T : unmanaged where TOut : unmanaged
{
    static abstract TOut Apply(T x);

    static virtual void Span(ReadOnlySpan<T> x, Span<TOut> o) => throw new NotSupportedException();

    static virtual bool HasSpanForm => false;
}

/// <summary>Drivers that walk strided, broadcast operands and call an operator on contiguous runs.</summary>
public static unsafe class Elementwise
{
    /// <summary>
    /// o[i] = op(a[i], b[i]) over <paramref name="shape"/>, with a and b strided (stride 0 broadcasts) and o row-major.
    /// </summary>
    public static void Binary<T, TOut, TOp>(T* a, long[] sa, T* b, long[] sb, TOut* o, int[] shape)
        where T : unmanaged where TOut : unmanaged where TOp : IBinaryOp<T, TOut>
    {
        // Fast paths without any shape bookkeeping: contiguous operands, or one of them a broadcast scalar.
        bool ca0 = Strided.IsRowMajor(shape, sa), cb0 = Strided.IsRowMajor(shape, sb);
        if ((ca0 || Strided.IsScalarBroadcast(shape, sa)) && (cb0 || Strided.IsScalarBroadcast(shape, sb)))
        {
            long n = 1;
            foreach (int d in shape) n *= d;
            long sa1 = ca0 ? 1 : 0, sb1 = cb0 ? 1 : 0;
            if (n < Parallelism.ElementwiseThreshold)
            {
                Run<T, TOut, TOp>(a, sa1, b, sb1, o, n);
                return;
            }
            nint qa = (nint)a, qb = (nint)b, qo = (nint)o;
            Parallelism.For(n, 1, (start, end) =>
                Run<T, TOut, TOp>((T*)qa + start * sa1, sa1, (T*)qb + start * sb1, sb1, (TOut*)qo + start, end - start));
            return;
        }
        bool ta = Strided.IsTransposed(shape, sa), tb = Strided.IsTransposed(shape, sb);
        if (ta || tb)
        {
            // An operand laid out along another dim than the output's last (a transposed view) would be read an
            // element per cache line: copy it row-major first (Strided.Copy transposes by tiles), then run contiguous.
            // x + y^T over 4096^2 floats: 55-66 ms element-wise.
            var rowMajor = Strided.RowMajor(shape);
            long bytes = rowMajor.Length == 0 ? sizeof(T) : rowMajor[0] * shape[0] * sizeof(T);
            T* ra = ta ? (T*)s_rowMajorA.Take(bytes) : a;
            T* rb = tb ? (T*)s_rowMajorB.Take(bytes) : b;
            try
            {
                if (ta) Strided.Copy(a, shape, sa, ra);
                if (tb) Strided.Copy(b, shape, sb, rb);
                Binary<T, TOut, TOp>(ra, ta ? rowMajor : sa, rb, tb ? rowMajor : sb, o, shape);
            }
            finally
            {
                if (ta) s_rowMajorA.Give(ra);
                if (tb) s_rowMajorB.Give(rb);
            }
            return;
        }
        var (cs, st) = Strided.Collapse(shape, sa, sb, Strided.RowMajor(shape));
        long[] ca = st[0], cb = st[1];
        int nd = cs.Length;
        long inner = cs[nd - 1];
        long outer = 1;
        for (int d = 0; d < nd - 1; d++)
        {
            outer *= cs[d];
        }
        if (inner == 0 || outer == 0)
        {
            return;
        }
        long ia = ca[nd - 1], ib = cb[nd - 1];
        nint pa = (nint)a, pb = (nint)b, po = (nint)o;
        if (nd == 2 && ia == 1 && ib == 1 && TOp.HasSpanForms && inner <= RepeatedRowElements / 4 && outer >= 8
            && (ca[0] == 0) != (cb[0] == 0) && (ca[0] == 0 ? cb[0] : ca[0]) == inner)
        {
            RowBroadcast<T, TOut, TOp>(a, b, ca[0] == 0, o, outer, inner);
            return;
        }
        if (outer == 1)
        {
            // One long run: split it across threads.
            Parallelism.For(inner, 1, (start, end) =>
                Run<T, TOut, TOp>((T*)pa + start * ia, ia, (T*)pb + start * ib, ib, (TOut*)po + start, end - start));
            return;
        }
        Parallelism.For(outer, inner, (start, end) =>
        {
            Span<long> index = stackalloc long[nd];
            Strided.RowIndex(start, cs, index);
            long oa = Strided.OuterOffset(start, cs, ca), ob = Strided.OuterOffset(start, cs, cb);
            for (long r = start; r < end; r++, Strided.NextRow(index, cs, ca, cb, ref oa, ref ob))
            {
                Run<T, TOut, TOp>((T*)pa + oa, ia, (T*)pb + ob, ib, (TOut*)po + r * inner, inner);
            }
        });
    }

    // Row-major copies of transposed operands, reused across calls.
    private static readonly CachedBuffer s_rowMajorA = new(), s_rowMajorB = new();

    private const long RepeatedRowElements = 16384;
    private static readonly CachedBuffer s_repeatedRow = new();

    /// <summary>
    /// A row vector against the rows of a matrix (a bias added to every row): the vector is repeated into a scratch
    /// block of several rows, so each span call covers ~16K elements instead of one short row (4096 x 1024 times a
    /// row: per-row calls cost 30-60% over the pass itself). The operands keep their sides.
    /// </summary>
    private static void RowBroadcast<T, TOut, TOp>(T* a, T* b, bool aIsRow, TOut* o, long rows, long inner)
        where T : unmanaged where TOut : unmanaged where TOp : IBinaryOp<T, TOut>
    {
        long perBlock = Math.Max(1, RepeatedRowElements / inner);
        T* row = aIsRow ? a : b;
        T* repeated = (T*)s_repeatedRow.Take(perBlock * inner * sizeof(T));
        try
        {
            for (long r = 0; r < perBlock; r++) new ReadOnlySpan<T>(row, (int)inner).CopyTo(new Span<T>(repeated + r * inner, (int)inner));
            nint pm = (nint)(aIsRow ? b : a), pr = (nint)repeated, po = (nint)o;
            long blocks = (rows + perBlock - 1) / perBlock;
            Parallelism.For(blocks, perBlock * inner, (s, e) =>
            {
                for (long blk = s; blk < e; blk++)
                {
                    long r0 = blk * perBlock;
                    int len = (int)(Math.Min(perBlock, rows - r0) * inner);
                    var m = new ReadOnlySpan<T>((T*)pm + r0 * inner, len);
                    var rep = new ReadOnlySpan<T>((T*)pr, len);
                    var dst = new Span<TOut>((TOut*)po + r0 * inner, len);
                    if (aIsRow) TOp.VV(rep, m, dst);
                    else TOp.VV(m, rep, dst);
                }
            });
        }
        finally
        {
            s_repeatedRow.Give(repeated);
        }
    }

    private static void Run<T, TOut, TOp>(T* a, long ia, T* b, long ib, TOut* o, long n)
        where T : unmanaged where TOut : unmanaged where TOp : IBinaryOp<T, TOut>
    {
        if (TOp.HasSpanForms && ia == 1 && ib == 1)
        {
            TOp.VV(new ReadOnlySpan<T>(a, (int)n), new ReadOnlySpan<T>(b, (int)n), new Span<TOut>(o, (int)n));
            return;
        }
        if (TOp.HasScalarForms && ia == 1 && ib == 0)
        {
            TOp.VS(new ReadOnlySpan<T>(a, (int)n), *b, new Span<TOut>(o, (int)n));
            return;
        }
        if (TOp.HasScalarForms && ia == 0 && ib == 1)
        {
            TOp.SV(*a, new ReadOnlySpan<T>(b, (int)n), new Span<TOut>(o, (int)n));
            return;
        }
        if (ia == 1 && ib == 0)
        {
            T bv = *b;
            for (long i = 0; i < n; i++)
            {
                o[i] = TOp.Apply(a[i], bv);
            }
            return;
        }
        if (ia == 0 && ib == 1)
        {
            T av = *a;
            for (long i = 0; i < n; i++)
            {
                o[i] = TOp.Apply(av, b[i]);
            }
            return;
        }
        for (long i = 0; i < n; i++)
        {
            o[i] = TOp.Apply(a[i * ia], b[i * ib]);
        }
    }

    /// <summary>o[i] = op(x[i]) over contiguous memory.</summary>
    public static void Unary<T, TOut, TOp>(T* x, TOut* o, long n)
        where T : unmanaged where TOut : unmanaged where TOp : IUnaryOp<T, TOut>
    {
        nint px = (nint)x, po = (nint)o;
        Parallelism.For(n, 4, (start, end) =>
        {
            T* xs = (T*)px + start;
            TOut* os = (TOut*)po + start;
            long len = end - start;
            if (TOp.HasSpanForm)
            {
                TOp.Span(new ReadOnlySpan<T>(xs, (int)len), new Span<TOut>(os, (int)len));
                return;
            }
            for (long i = 0; i < len; i++)
            {
                os[i] = TOp.Apply(xs[i]);
            }
        });
    }

    /// <summary>o[i] = c[i] ? a[i] : b[i] with all three strided and o row-major.</summary>
    public static void Select<T>(bool* c, long[] sc, T* a, long[] sa, T* b, long[] sb, T* o, int[] shape) where T : unmanaged
    {
        var (cs, st) = Strided.Collapse(shape, sc, sa, sb, Strided.RowMajor(shape));
        int nd = cs.Length;
        long inner = cs[nd - 1], outer = 1;
        for (int d = 0; d < nd - 1; d++)
        {
            outer *= cs[d];
        }
        if (inner == 0 || outer == 0)
        {
            return;
        }
        nint pc = (nint)c, pa = (nint)a, pb = (nint)b, po = (nint)o;
        long ic = st[0][nd - 1], ia = st[1][nd - 1], ib = st[2][nd - 1];
        if (outer == 1)
        {
            // One long run (contiguous operands, or a scalar among them): split it across threads.
            Parallelism.For(inner, 1, (start, end) =>
                SelectRun((bool*)pc + start * ic, ic, (T*)pa + start * ia, ia, (T*)pb + start * ib, ib, (T*)po + start, end - start));
            return;
        }
        Parallelism.For(outer, inner, (start, end) =>
        {
            Span<long> index = stackalloc long[nd];
            Strided.RowIndex(start, cs, index);
            long oc = Strided.OuterOffset(start, cs, st[0]), oa = Strided.OuterOffset(start, cs, st[1]), ob = Strided.OuterOffset(start, cs, st[2]);
            for (long r = start; r < end; r++, Strided.NextRow(index, cs, st[0], st[1], st[2], ref oc, ref oa, ref ob))
            {
                SelectRun((bool*)pc + oc, ic, (T*)pa + oa, ia, (T*)pb + ob, ib, (T*)po + r * inner, inner);
            }
        });
    }

    private static void SelectRun<T>(bool* c, long ic, T* a, long ia, T* b, long ib, T* o, long n) where T : unmanaged
    {
        if (typeof(T) == typeof(uint) && ic == 1 && ia <= 1 && ib <= 1)
        {
            SelectRun32(c, (uint*)a, ia, (uint*)b, ib, (uint*)o, n);
            return;
        }
        for (long i = 0; i < n; i++)
        {
            o[i] = c[i * ic] ? a[i * ia] : b[i * ib];
        }
    }

    /// <summary>
    /// o = min(max(x, lo), hi) in one pass, with TensorPrimitives.Max/Min's IEEE rules (NaN stays NaN, +0 above -0):
    /// what clip computes as two.
    /// </summary>
    public static void Clamp(ReadOnlySpan<float> x, float lo, float hi, Span<float> o)
    {
        int i = 0, n = x.Length;
        ref float xs = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float os = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(o);
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> l = Vector512.Create(lo), h = Vector512.Create(hi);
            for (; i + 16 <= n; i += 16) Vector512.Min(Vector512.Max(Vector512.LoadUnsafe(ref xs, (nuint)i), l), h).StoreUnsafe(ref os, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> l = Vector256.Create(lo), h = Vector256.Create(hi);
            for (; i + 8 <= n; i += 8) Vector256.Min(Vector256.Max(Vector256.LoadUnsafe(ref xs, (nuint)i), l), h).StoreUnsafe(ref os, (nuint)i);
        }
        for (; i < n; i++) o[i] = float.Min(float.Max(x[i], lo), hi);
    }

    /// <summary>o = p - s * g over contiguous memory, the product rounded first (as the two separate ops round).</summary>
    public static void SubtractScaled<T>(T* p, T* g, T s, T* o, long n) where T : unmanaged, INumber<T>
    {
        nint pp = (nint)p, pg = (nint)g, po = (nint)o;
        Parallelism.For(n, 2, (start, end) =>
        {
            // Chunks small enough that the product is still in L1 when it is subtracted.
            const int Chunk = 2048;
            for (long i = start; i < end; i += Chunk)
            {
                int len = (int)Math.Min(Chunk, end - i);
                var dst = new Span<T>((T*)po + i, len);
                TensorPrimitives.Multiply(new ReadOnlySpan<T>((T*)pg + i, len), s, dst);
                TensorPrimitives.Subtract(new ReadOnlySpan<T>((T*)pp + i, len), dst, dst);
            }
        });
    }

    // 4-byte elements with a contiguous condition and each operand contiguous (stride 1) or broadcast (stride 0):
    // without branches, since a data-dependent mask (ReLU's gradient) defeats branch prediction.
    private static void SelectRun32(bool* c, uint* a, long ia, uint* b, long ib, uint* o, long n)
    {
        long i = 0;
        if (Avx512F.IsSupported)
        {
            var va = Vector512.Create(*a);
            var vb = Vector512.Create(*b);
            for (; i <= n - 16; i += 16)
            {
                var keepB = Vector512.Equals(Avx512F.ConvertToVector512UInt32(Vector128.Load((byte*)c + i)), Vector512<uint>.Zero);
                if (ia != 0) va = Vector512.Load(a + i);
                if (ib != 0) vb = Vector512.Load(b + i);
                Vector512.ConditionalSelect(keepB, vb, va).Store(o + i);
            }
        }
        for (; i < n; i++)
        {
            uint m = ((byte*)c)[i] == 0 ? 0u : ~0u;
            o[i] = (a[i * ia] & m) | (b[i * ib] & ~m);
        }
    }
}

/// <summary>Conversions between element types, vectorized where TensorPrimitives can.</summary>
public static unsafe class Convert
{
    public static void Numeric<TIn, TOut>(TIn* x, TOut* o, long n)
        where TIn : unmanaged, INumberBase<TIn> where TOut : unmanaged, INumberBase<TOut>
    {
        nint px = (nint)x, po = (nint)o;
        Parallelism.For(n, 2, (s, e) =>
            TensorPrimitives.ConvertTruncating<TIn, TOut>(new ReadOnlySpan<TIn>((TIn*)px + s, (int)(e - s)), new Span<TOut>((TOut*)po + s, (int)(e - s))));
    }
}
