using ILGPU;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>An operand in device memory: an element offset and strides (in elements) over the op's full shape.</summary>
public readonly record struct GpuOperand(GpuMemory Memory, long Offset, int[] Shape, long[] Strides);

/// <summary>
/// Four consecutive elements as one value: read from and written to a buffer's start plus a multiple of its size, so
/// ILGPU's PTX backend emits one vector access (ld.v4.f32 for float32) instead of four; a memory-bound kernel needs
/// the bytes in flight that this gives each thread to come near the memory's bandwidth. Kernels walk n elements as
/// (n + 3) / 4 quads, the last one partial, and run their op in a loop over the lanes: one copy of the op's code
/// (four inlined copies of an op switch made a kernel four times larger for the GPU's JIT to compile).
/// </summary>
internal struct Quad<T> where T : unmanaged
{
    public T X, Y, Z, W;

    public Quad(T x, T y, T z, T w) => (X, Y, Z, W) = (x, y, z, w);

    public Quad(T all) => X = Y = Z = W = all;

    /// <summary>Lane k by selects, so that the loop over the lanes keeps the quad in registers.</summary>
    public readonly T this[int k] => k == 0 ? X : k == 1 ? Y : k == 2 ? Z : W;

    public readonly Quad<T> With(int k, T v) => new(k == 0 ? v : X, k == 1 ? v : Y, k == 2 ? v : Z, k == 3 ? v : W);

    /// <summary>Quad q of the n elements of v (its elements 4q..4q+3, the last quad padded with a repeat); step 0 reads v[0] throughout.</summary>
    public static Quad<T> Read(ArrayView<T> v, long step, long q, long n)
    {
        if (step == 0)
        {
            return new Quad<T>(v[0]);
        }
        long i = 4 * q;
        if (i + 4 <= n)
        {
            return v.Cast<Quad<T>>()[q];
        }
        return new Quad<T>(v[i], v[Math.Min(i + 1, n - 1)], v[Math.Min(i + 2, n - 1)], v[Math.Min(i + 3, n - 1)]);
    }

    /// <summary>Writes quad q of n elements (of the last quad, only the lanes below n).</summary>
    public readonly void Write(ArrayView<T> o, long q, long n)
    {
        long i = 4 * q;
        if (i + 4 <= n)
        {
            o.Cast<Quad<T>>()[q] = this;
            return;
        }
        for (int k = 0; i + k < n; k++)
        {
            o[i + k] = this[k];
        }
    }
}

/// <summary>Grid-stride elementwise kernels: each thread starts at its global index and steps by the grid size.</summary>
internal static class ElementwiseKernels
{
    public static void Cast<TS, TD, CS, CD>(ArrayView<TS> src, StridedLayout layout, ArrayView<TD> dst, long n, CS cs, CD cd)
        where TS : unmanaged where TD : unmanaged where CS : struct, ICodec<TS> where CD : struct, ICodec<TD>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            TS x = src[layout.Offset(i)];
            dst[i] = cs.IsFloat || cd.IsFloat ? cd.FromDouble(cs.ToDouble(x)) : cd.FromLong(cs.ToLong(x));
        }
    }

    public static void Copy<T>(ArrayView<T> src, StridedLayout layout, ArrayView<T> dst, long n) where T : unmanaged
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            dst[i] = src[layout.Offset(i)];
        }
    }

    // Unary and Binary go four elements per thread and step (see Quad).
    public static void Unary<T, TOps>(ArrayView<T> x, ArrayView<T> o, long n, int op, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX, quads = (n + 3) >> 2;
        for (long q = Grid.GlobalIndex.X; q < quads; q += stride)
        {
            var v = Quad<T>.Read(x, 1, q, n);
            var r = v;
            for (int k = 0; k < 4; k++)
            {
                r = r.With(k, ops.Unary(op, v[k]));
            }
            r.Write(o, q, n);
        }
    }

    public static void Classify<T, TOps>(ArrayView<T> x, ArrayView<byte> o, long n, int op, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            o[i] = ops.Classify(op, x[i]) ? (byte)1 : (byte)0;
        }
    }

    // aStep and bStep are 1 for a full operand and 0 for a scalar one.
    public static void Binary<T, TOps>(ArrayView<T> a, long aStep, ArrayView<T> b, long bStep, ArrayView<T> o, long n, int op, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX, quads = (n + 3) >> 2;
        for (long q = Grid.GlobalIndex.X; q < quads; q += stride)
        {
            var u = Quad<T>.Read(a, aStep, q, n);
            var v = Quad<T>.Read(b, bStep, q, n);
            var r = u;
            for (int k = 0; k < 4; k++)
            {
                r = r.With(k, ops.Binary(op, u[k], v[k]));
            }
            r.Write(o, q, n);
        }
    }

    public static void Compare<T, TOps>(ArrayView<T> a, long aStep, ArrayView<T> b, long bStep, ArrayView<byte> o, long n, int op, TOps ops)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            o[i] = ops.Compare(op, a[i * aStep], b[i * bStep]) ? (byte)1 : (byte)0;
        }
    }

    public static void Where<T>(ArrayView<byte> c, long cStep, ArrayView<T> a, long aStep, ArrayView<T> b, long bStep, ArrayView<T> o, long n)
        where T : unmanaged
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            o[i] = c[i * cStep] != 0 ? a[i * aStep] : b[i * bStep];
        }
    }
}

public sealed partial class GpuDevice
{
    public static int ItemSize(GpuType t) => t switch
    {
        GpuType.Bool or GpuType.UInt8 or GpuType.Int8 => 1,
        GpuType.UInt16 or GpuType.Int16 or GpuType.Float16 or GpuType.BFloat16 => 2,
        GpuType.UInt32 or GpuType.Int32 or GpuType.Float32 => 4,
        _ => 8,
    };

    private static StridedLayout Layout(GpuOperand src)
    {
        var (shape, strides) = Strided.Collapse(src.Shape, src.Strides);
        return StridedLayout.From(shape, strides[0], src.Offset);
    }

    private static long Count(int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            n *= d;
        }
        return n;
    }

    /// <summary>Writes <paramref name="src"/> (any strides, broadcast or offset) row-major into <paramref name="dst"/>, converting its type.</summary>
    public void Copy(GpuType from, GpuOperand src, GpuType to, GpuMemory dst)
    {
        long n = Count(src.Shape);
        if (n == 0)
        {
            return;
        }
        var layout = Layout(src);
        if (from == to || (ItemSize(from) == ItemSize(to) && from is not (GpuType.Bool or GpuType.Float16 or GpuType.BFloat16 or GpuType.Float32 or GpuType.Float64)
            && to is not (GpuType.Bool or GpuType.Float16 or GpuType.BFloat16 or GpuType.Float32 or GpuType.Float64)))
        {
            // Same bits (a copy, or a reinterpreting cast between integers of one width).
            switch (ItemSize(from))
            {
                case 1: CopyBits<byte>(src.Memory, layout, dst, n); break;
                case 2: CopyBits<ushort>(src.Memory, layout, dst, n); break;
                case 4: CopyBits<uint>(src.Memory, layout, dst, n); break;
                default: CopyBits<ulong>(src.Memory, layout, dst, n); break;
            }
            return;
        }
        switch (from)
        {
            case GpuType.Bool: CastFrom<byte, BoolCodec>(src.Memory, layout, to, dst, n); break;
            case GpuType.UInt8: CastFrom<byte, U8Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.UInt16: CastFrom<ushort, U16Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.UInt32: CastFrom<uint, U32Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.UInt64: CastFrom<ulong, U64Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.Int8: CastFrom<sbyte, I8Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.Int16: CastFrom<short, I16Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.Int32: CastFrom<int, I32Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.Int64: CastFrom<long, I64Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.Float16: CastFrom<ushort, F16Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.BFloat16: CastFrom<ushort, BF16Codec>(src.Memory, layout, to, dst, n); break;
            case GpuType.Float32: CastFrom<float, F32Codec>(src.Memory, layout, to, dst, n); break;
            default: CastFrom<double, F64Codec>(src.Memory, layout, to, dst, n); break;
        }
    }

    private void CopyBits<T>(GpuMemory src, StridedLayout layout, GpuMemory dst, long n) where T : unmanaged
    {
        var k = Kernel("copy", a => a.LoadStreamKernel<ArrayView<T>, StridedLayout, ArrayView<T>, long>(ElementwiseKernels.Copy));
        k(GridFor(n), src.View<T>(), layout, dst.View<T>(), n);
    }

    private void CastFrom<TS, CS>(GpuMemory src, StridedLayout layout, GpuType to, GpuMemory dst, long n)
        where TS : unmanaged where CS : struct, ICodec<TS>
    {
        switch (to)
        {
            case GpuType.Bool: CastTo<TS, byte, CS, BoolCodec>(src, layout, dst, n); break;
            case GpuType.UInt8: CastTo<TS, byte, CS, U8Codec>(src, layout, dst, n); break;
            case GpuType.UInt16: CastTo<TS, ushort, CS, U16Codec>(src, layout, dst, n); break;
            case GpuType.UInt32: CastTo<TS, uint, CS, U32Codec>(src, layout, dst, n); break;
            case GpuType.UInt64: CastTo<TS, ulong, CS, U64Codec>(src, layout, dst, n); break;
            case GpuType.Int8: CastTo<TS, sbyte, CS, I8Codec>(src, layout, dst, n); break;
            case GpuType.Int16: CastTo<TS, short, CS, I16Codec>(src, layout, dst, n); break;
            case GpuType.Int32: CastTo<TS, int, CS, I32Codec>(src, layout, dst, n); break;
            case GpuType.Int64: CastTo<TS, long, CS, I64Codec>(src, layout, dst, n); break;
            case GpuType.Float16: CastTo<TS, ushort, CS, F16Codec>(src, layout, dst, n); break;
            case GpuType.BFloat16: CastTo<TS, ushort, CS, BF16Codec>(src, layout, dst, n); break;
            case GpuType.Float32: CastTo<TS, float, CS, F32Codec>(src, layout, dst, n); break;
            default: CastTo<TS, double, CS, F64Codec>(src, layout, dst, n); break;
        }
    }

    private void CastTo<TS, TD, CS, CD>(GpuMemory src, StridedLayout layout, GpuMemory dst, long n)
        where TS : unmanaged where TD : unmanaged where CS : struct, ICodec<TS> where CD : struct, ICodec<TD>
    {
        var k = Kernel("cast", a => a.LoadStreamKernel<ArrayView<TS>, StridedLayout, ArrayView<TD>, long, CS, CD>(ElementwiseKernels.Cast));
        k(GridFor(n), src.View<TS>(), layout, dst.View<TD>(), n, default, default);
    }

    /// <summary>
    /// A unary op over <paramref name="n"/> contiguous elements of compute type <paramref name="t"/>; IsNaN, IsInf,
    /// IsPosInf and IsNegInf write bools.
    /// </summary>
    public void Unary(UnaryOp op, GpuType t, GpuMemory x, GpuMemory o, long n)
    {
        if (n == 0)
        {
            return;
        }
        bool classify = op is UnaryOp.IsNaN or UnaryOp.IsInf or UnaryOp.IsPosInf or UnaryOp.IsNegInf;
        if (t == GpuType.Float32 && op <= UnaryOp.Radians && UseChainKernels)
        {
            // A kernel for this op alone (a one-step fused chain). The kernel below holds every op's code, double-
            // precision paths included: on an H100 gelu written as six binary ops and a sigmoid over 16M floats took
            // 9.7 ms, where the six binary ops alone run at B2's ~0.08 ms each, and the same seven ops as one chain
            // kernel 0.084 ms (perf/results/gpu-check-h100-run13.md, X5). Not yet measured on a GPU this way.
            Fused(new[] { 0, (int)op, -1, 0 }, new[] { x }, new[] { false }, o, n);
            return;
        }
        switch (t)
        {
            case GpuType.Float32: UnaryImpl<float, F32Ops>(op, classify, x, o, n); break;
            case GpuType.Float64: UnaryImpl<double, F64Ops>(op, classify, x, o, n); break;
            case GpuType.Int32: UnaryImpl<int, I32Ops>(op, classify, x, o, n); break;
            case GpuType.Int64: UnaryImpl<long, I64Ops>(op, classify, x, o, n); break;
            case GpuType.UInt32: UnaryImpl<uint, U32Ops>(op, classify, x, o, n); break;
            case GpuType.UInt64: UnaryImpl<ulong, U64Ops>(op, classify, x, o, n); break;
            default: throw new ArgumentException($"Unary kernels compute in 32/64-bit types, not {t}.");
        }
    }

    private void UnaryImpl<T, TOps>(UnaryOp op, bool classify, GpuMemory x, GpuMemory o, long n)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        if (classify)
        {
            var c = Kernel("classify", a => a.LoadStreamKernel<ArrayView<T>, ArrayView<byte>, long, int, TOps>(ElementwiseKernels.Classify));
            c(GridFor(n), x.View<T>(), o.View<byte>(), n, (int)op, default);
            return;
        }
        var k = Kernel("unary", a => a.LoadStreamKernel<ArrayView<T>, ArrayView<T>, long, int, TOps>(ElementwiseKernels.Unary));
        k(GridFor((n + 3) / 4), x.View<T>(), o.View<T>(), n, (int)op, default);
    }

    /// <summary>
    /// A binary op over <paramref name="n"/> elements: each operand contiguous, or a scalar read at index 0.
    /// Comparisons write bools.
    /// </summary>
    public void Binary(BinaryOp op, GpuType t, GpuMemory a, bool aScalar, GpuMemory b, bool bScalar, GpuMemory o, long n)
    {
        if (n == 0)
        {
            return;
        }
        bool compare = op >= BinaryOp.Equal;
        long sa = aScalar ? 0 : 1, sb = bScalar ? 0 : 1;
        switch (t)
        {
            case GpuType.Float32: BinaryImpl<float, F32Ops>(op, compare, a, sa, b, sb, o, n); break;
            case GpuType.Float64: BinaryImpl<double, F64Ops>(op, compare, a, sa, b, sb, o, n); break;
            case GpuType.Int32: BinaryImpl<int, I32Ops>(op, compare, a, sa, b, sb, o, n); break;
            case GpuType.Int64: BinaryImpl<long, I64Ops>(op, compare, a, sa, b, sb, o, n); break;
            case GpuType.UInt32: BinaryImpl<uint, U32Ops>(op, compare, a, sa, b, sb, o, n); break;
            case GpuType.UInt64: BinaryImpl<ulong, U64Ops>(op, compare, a, sa, b, sb, o, n); break;
            default: throw new ArgumentException($"Binary kernels compute in 32/64-bit types, not {t}.");
        }
    }

    private void BinaryImpl<T, TOps>(BinaryOp op, bool compare, GpuMemory a, long sa, GpuMemory b, long sb, GpuMemory o, long n)
        where T : unmanaged where TOps : struct, IGpuOps<T>
    {
        if (compare)
        {
            var c = Kernel("compare", acc => acc.LoadStreamKernel<ArrayView<T>, long, ArrayView<T>, long, ArrayView<byte>, long, int, TOps>(ElementwiseKernels.Compare));
            c(GridFor(n), a.View<T>(), sa, b.View<T>(), sb, o.View<byte>(), n, (int)op, default);
            return;
        }
        var k = Kernel("binary", acc => acc.LoadStreamKernel<ArrayView<T>, long, ArrayView<T>, long, ArrayView<T>, long, int, TOps>(ElementwiseKernels.Binary));
        k(GridFor((n + 3) / 4), a.View<T>(), sa, b.View<T>(), sb, o.View<T>(), n, (int)op, default);
    }

    /// <summary>o = c ? a : b over <paramref name="n"/> elements of <paramref name="itemSize"/> bytes; each operand contiguous or a scalar.</summary>
    public void Where(int itemSize, GpuMemory c, bool cScalar, GpuMemory a, bool aScalar, GpuMemory b, bool bScalar, GpuMemory o, long n)
    {
        if (n == 0)
        {
            return;
        }
        long sc = cScalar ? 0 : 1, sa = aScalar ? 0 : 1, sb = bScalar ? 0 : 1;
        switch (itemSize)
        {
            case 1: WhereImpl<byte>(c, sc, a, sa, b, sb, o, n); break;
            case 2: WhereImpl<ushort>(c, sc, a, sa, b, sb, o, n); break;
            case 4: WhereImpl<uint>(c, sc, a, sa, b, sb, o, n); break;
            default: WhereImpl<ulong>(c, sc, a, sa, b, sb, o, n); break;
        }
    }

    private void WhereImpl<T>(GpuMemory c, long sc, GpuMemory a, long sa, GpuMemory b, long sb, GpuMemory o, long n) where T : unmanaged
    {
        var k = Kernel("where", acc => acc.LoadStreamKernel<ArrayView<byte>, long, ArrayView<T>, long, ArrayView<T>, long, ArrayView<T>, long>(ElementwiseKernels.Where));
        k(GridFor(n), c.View<byte>(), sc, a.View<T>(), sa, b.View<T>(), sb, o.View<T>(), n);
    }
}
