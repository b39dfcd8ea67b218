using System.Numerics;
using Mlx.Kernels;

namespace Mlx;

/// <summary>Converts an array to another dtype (MLX's AsType primitive).</summary>
internal sealed class AsTypePrimitive : Primitive
{
    public AsTypePrimitive(DType dtype) => DType = dtype;

    public DType DType { get; }

    public override string Name => "AsType";

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        // A same-dtype cast of a row-contiguous input (Mx.Contiguous, View) shares its buffer, as MLX's copy does.
        if (x.DType == DType && x.IsRowContiguous && x.ShapeRef.SequenceEqual(outputs[0].ShapeRef))
        {
            outputs[0].SetView(x, MxArray.RowMajorStrides(outputs[0].ShapeRef), x.Offset);
            return;
        }
        outputs[0].AllocateData();
        Cast.Run(x, outputs[0]);
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        if (x.DType == DType && x.IsRowContiguous && x.ShapeRef.SequenceEqual(o.ShapeRef))
        {
            o.SetView(x, MxArray.RowMajorStrides(o.ShapeRef), x.Offset);
            return;
        }
        if (!GpuOps.Supports(x.DType) || !GpuOps.Supports(DType))
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var source = new Mlx.Kernels.Gpu.GpuOperand(GpuRuntime.Memory(x), x.Offset, x.ShapeRef, x.Strides);
        GpuRuntime.Device.Copy(GpuOps.TypeOf(x.DType), source, GpuOps.TypeOf(DType), GpuRuntime.AllocateOutput(o));
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        new[] { Mx.AsType(cotangents[0], primals[0].DType) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) => new[] { Mx.AsType(tangents[0], DType) };

    public override bool IsEquivalent(Primitive other) => other is AsTypePrimitive p && p.DType == DType;

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(new[] { inputs[0].ShapeRef[0] }.Concat(outputs[0].ShapeRef).ToArray(), outputs[0].DType, this, inputs[0]) };
}

/// <summary>Element conversion between any two dtypes, from strided input into a row-major output.</summary>
internal static unsafe class Cast
{
    /// <summary>A new evaluated row-major array holding <paramref name="x"/> converted to <paramref name="dtype"/>.</summary>
    public static MxArray Materialize(MxArray x, DType dtype)
    {
        var o = new MxArray(x.ShapeRef, dtype, Allocator.Allocate(x.Size * dtype.Size()), MxArray.RowMajorStrides(x.ShapeRef), 0);
        Run(x, o);
        return o;
    }

    /// <summary>
    /// <paramref name="x"/> converted to <paramref name="dtype"/>, keeping x's layout when x covers a dense block of
    /// its buffer in some axis order (a transposed or permuted view, such as a weight read as W^T): the conversion
    /// then runs through memory in order, with no transposing copy, and the consumer reads the strides as before.
    /// Other layouts (slices with gaps, broadcasts, reversed axes) are gathered row-major as <see cref="Materialize"/> does.
    /// </summary>
    public static MxArray MaterializeKeepingLayout(MxArray x, DType dtype)
    {
        if (x.IsRowContiguous || !IsDensePermutation(x))
        {
            return Materialize(x, dtype);
        }
        var o = new MxArray(x.ShapeRef, dtype, Allocator.Allocate(x.Size * dtype.Size()), (long[])x.Strides.Clone(), 0);
        Convert(x.RawPtr, x.DType, o.RawPtr, dtype, x.Size);
        return o;
    }

    // Positive strides that, sorted, step through a gap-free block: 1, d0, d0*d1, ... (dims of size 1 do not count).
    private static bool IsDensePermutation(MxArray x)
    {
        if (x.Size == 0)
        {
            return false;
        }
        var dims = x.ShapeRef.Zip(x.Strides).Where(p => p.First > 1).OrderBy(p => p.Second).ToArray();
        long expected = 1;
        foreach (var (size, stride) in dims)
        {
            if (stride != expected)
            {
                return false;
            }
            expected *= size;
        }
        return true;
    }

    /// <summary>A row-major copy of <paramref name="x"/> (x itself when it already is one).</summary>
    public static MxArray Contiguous(MxArray x) => x.IsRowContiguous ? x : Materialize(x, x.DType);

    /// <summary>Frees the buffers of <paramref name="parts"/> that are copies (not the same array as the input at their index).</summary>
    public static void ReleaseCopies(MxArray[] parts, MxArray[] inputs)
    {
        for (int i = 0; i < parts.Length; i++)
        {
            if (!ReferenceEquals(parts[i], inputs[i])) parts[i].Buffer.Release();
        }
    }

    public static void Run(MxArray x, MxArray o)
    {
        long n = x.Size;
        if (n == 0)
        {
            return;
        }
        // Gather strided input first, so the conversion itself runs over contiguous memory.
        Buffer? temp = null;
        byte* src;
        if (x.IsRowContiguous)
        {
            src = x.RawPtr;
        }
        else
        {
            temp = Allocator.Allocate(x.NBytes);
            CopyStrided(x, (byte*)temp.Pointer);
            src = (byte*)temp.Pointer;
        }
        try
        {
            Convert(src, x.DType, o.RawPtr, o.DType, n);
        }
        finally
        {
            temp?.Release();
        }
    }

    public static void CopyStrided(MxArray x, byte* dst)
    {
        switch (x.ItemSize)
        {
            case 1: Strided.Copy(x.Ptr<byte>(), x.ShapeRef, x.Strides, dst); break;
            case 2: Strided.Copy(x.Ptr<ushort>(), x.ShapeRef, x.Strides, (ushort*)dst); break;
            case 4: Strided.Copy(x.Ptr<uint>(), x.ShapeRef, x.Strides, (uint*)dst); break;
            default: Strided.Copy(x.Ptr<ulong>(), x.ShapeRef, x.Strides, (ulong*)dst); break;
        }
    }

    public static void Convert(byte* src, DType from, byte* dst, DType to, long n)
    {
        if (from == to)
        {
            Strided.CopyBytes(src, dst, n * to.Size());
            return;
        }
        switch (from, to)
        {
            case (DType.Float16, DType.Float32): Conversions.HalfToSingle((Half*)src, (float*)dst, n); return;
            case (DType.Float32, DType.Float16): Conversions.SingleToHalf((float*)src, (Half*)dst, n); return;
            case (DType.BFloat16, DType.Float32): Conversions.BFloat16ToSingle((ushort*)src, (float*)dst, n); return;
            case (DType.Float32, DType.BFloat16): Conversions.SingleToBFloat16((float*)src, (ushort*)dst, n); return;
        }
        if (to == DType.Bool)
        {
            ToBool(src, from, (bool*)dst, n);
            return;
        }
        if (from == DType.Bool)
        {
            // bool is stored as 0/1 bytes, so it converts as uint8.
            from = DType.UInt8;
        }
        if (from == DType.Complex64)
        {
            // Complex to real keeps the real part.
            var c = (Complex64*)src;
            var temp = new float[n];
            for (long i = 0; i < n; i++) temp[i] = c[i].Real;
            fixed (float* t = temp) Convert((byte*)t, DType.Float32, dst, to, n);
            return;
        }
        if (to == DType.Complex64)
        {
            var temp = new float[n];
            fixed (float* t = temp)
            {
                Convert(src, from, (byte*)t, DType.Float32, n);
                var c = (Complex64*)dst;
                for (long i = 0; i < n; i++) c[i] = new Complex64(t[i], 0);
            }
            return;
        }
        if (from == DType.BFloat16)
        {
            var t = new float[n];
            fixed (float* tp = t)
            {
                Conversions.BFloat16ToSingle((ushort*)src, tp, n);
                Convert((byte*)tp, DType.Float32, dst, to, n);
            }
            return;
        }
        if (to == DType.BFloat16)
        {
            var t = new float[n];
            fixed (float* tp = t)
            {
                Convert(src, from, (byte*)tp, DType.Float32, n);
                Conversions.SingleToBFloat16(tp, (ushort*)dst, n);
            }
            return;
        }
        var visitor = new FromVisitor { Src = src, Dst = dst, To = to, N = n };
        Visit(from, ref visitor);
    }

    private static void ToBool(byte* src, DType from, bool* dst, long n)
    {
        switch (from)
        {
            case DType.Complex64:
                for (long i = 0; i < n; i++) dst[i] = ((Complex64*)src)[i] != default;
                return;
            case DType.BFloat16:
                for (long i = 0; i < n; i++) dst[i] = (((ushort*)src)[i] & 0x7FFF) != 0;
                return;
            case DType.Bool:
                System.Buffer.MemoryCopy(src, dst, n, n);
                return;
        }
        var visitor = new ToBoolVisitor { Src = src, Dst = dst, N = n };
        Visit(from, ref visitor);
    }

    private interface INumberVisitor
    {
        void Visit<T>() where T : unmanaged, INumberBase<T>;
    }

    private static void Visit<TV>(DType t, ref TV v) where TV : struct, INumberVisitor
    {
        switch (t)
        {
            case DType.UInt8: v.Visit<byte>(); break;
            case DType.UInt16: v.Visit<ushort>(); break;
            case DType.UInt32: v.Visit<uint>(); break;
            case DType.UInt64: v.Visit<ulong>(); break;
            case DType.Int8: v.Visit<sbyte>(); break;
            case DType.Int16: v.Visit<short>(); break;
            case DType.Int32: v.Visit<int>(); break;
            case DType.Int64: v.Visit<long>(); break;
            case DType.Float16: v.Visit<Half>(); break;
            case DType.Float32: v.Visit<float>(); break;
            case DType.Float64: v.Visit<double>(); break;
            default: throw new NotSupportedException($"No conversion kernel for {t.Name()}.");
        }
    }

    private struct FromVisitor : INumberVisitor
    {
        public byte* Src;
        public byte* Dst;
        public DType To;
        public long N;

        public void Visit<T>() where T : unmanaged, INumberBase<T>
        {
            var to = new ToVisitor<T> { Src = (T*)Src, Dst = Dst, N = N };
            Cast.Visit(To, ref to);
        }
    }

    private struct ToVisitor<TIn> : INumberVisitor where TIn : unmanaged, INumberBase<TIn>
    {
        public TIn* Src;
        public byte* Dst;
        public long N;

        public void Visit<T>() where T : unmanaged, INumberBase<T> => Mlx.Kernels.Convert.Numeric(Src, (T*)Dst, N);
    }

    private struct ToBoolVisitor : INumberVisitor
    {
        public byte* Src;
        public bool* Dst;
        public long N;

        public void Visit<T>() where T : unmanaged, INumberBase<T>
        {
            var s = (T*)Src;
            for (long i = 0; i < N; i++) Dst[i] = s[i] != T.Zero;
        }
    }
}
