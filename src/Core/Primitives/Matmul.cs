using System.Numerics;
using Mlx.Kernels;

namespace Mlx;

/// <summary>
/// Batched matrix product of operands of shape (..., M, K) and (..., K, N) with equal batch shapes (the op
/// broadcasts them as views). Any strides are accepted: GEMM packs its panels, so transposes cost no copy.
/// </summary>
internal sealed unsafe class MatmulPrimitive : Primitive
{
    public override string Name => "Matmul";

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        if (outputs[0].DType is DType.Float16 or DType.BFloat16)
        {
            if (!TryGemv16(inputs[0], inputs[1], outputs[0]))
            {
                Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            }
            return;
        }
        var v = new Kernel { A = inputs[0], B = inputs[1], O = outputs[0], Alpha = 1 };
        outputs[0].AllocateData();
        Dispatch.Float(outputs[0].DType, ref v);
    }

    /// <summary>
    /// A few rows times a 16-bit weight read as its transpose (x W^T, one token of inference): the weight's columns
    /// are widened one at a time inside the kernel, so it is read once at 2 bytes an element (Gemm.Gemv16).
    /// </summary>
    private static bool TryGemv16(MxArray a, MxArray b, MxArray o)
    {
        int nd = o.NDim;
        int M = o.ShapeRef[nd - 2], N = o.ShapeRef[nd - 1], K = a.ShapeRef[nd - 1];
        if (o.Size != (long)M * N || M > Gemm.GemvRows || M == 0 || N == 0 || K == 0 || b.DType != o.DType || b.Strides[nd - 2] != 1)
        {
            return false;
        }
        var a32 = Cast.Materialize(a, DType.Float32);
        var o32 = new MxArray(o.ShapeRef, DType.Float32, Allocator.Allocate(o.Size * 4), MxArray.RowMajorStrides(o.ShapeRef), 0);
        try
        {
            Gemm.Gemv16(M, N, K, a32.Ptr<float>(), K, (ushort*)b.RawPtr, b.Strides[nd - 1], o.DType == DType.BFloat16, o32.Ptr<float>(), N);
            o.AllocateData();
            Cast.Run(o32, o);
        }
        finally
        {
            a32.Buffer.Release();
            o32.Buffer.Release();
        }
        return true;
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        int nd = o.NDim;
        if (!GpuOps.Supports(o.DType) || nd - 2 > Mlx.Kernels.Gpu.StridedLayout.MaxDims)
        {
            EvalCpu(inputs, outputs);
            return;
        }
        // float32 and float64 operands are read in place through their strides; half types go through float32 copies.
        var ct = o.DType == DType.Float64 ? DType.Float64 : DType.Float32;
        var (a, sa) = GpuMatrix(inputs[0], ct);
        var (b, sb) = GpuMatrix(inputs[1], ct);
        int m = o.ShapeRef[nd - 2], n = o.ShapeRef[nd - 1], k = inputs[0].ShapeRef[nd - 1];
        var batch = o.ShapeRef[..^2];
        GpuOps.IntoOutput(o, ct, mem => GpuRuntime.Device.Matmul(GpuOps.TypeOf(ct), batch, m, n, k, a, b, mem));
        if (sa) GpuRuntime.Free(a.Memory);
        if (sb) GpuRuntime.Free(b.Memory);
    }

    /// <summary>
    /// The operand as the kernel reads it: its own memory and strides (transposed and broadcast views cost no copy),
    /// or, for half types, a row-major float32 copy that the caller frees (Scratch).
    /// </summary>
    private static (Mlx.Kernels.Gpu.GemmOperand Operand, bool Scratch) GpuMatrix(MxArray x, DType ct)
    {
        if (x.DType == ct)
        {
            var s = x.Strides;
            return (new(GpuRuntime.Memory(x), x.Offset, s[^2], s[^1], s[..^2]), false);
        }
        var copy = GpuOps.Operand(x, ct, allowScalar: false);
        var rm = MxArray.RowMajorStrides(x.ShapeRef);
        return (new(copy.Memory, 0, rm[^2], rm[^1], rm[..^2]), copy.Scratch);
    }

    internal struct Kernel : IFloatVisitor
    {
        public MxArray A, B, O;

        // O = Alpha * (A @ B) + Beta * O: Beta 0 overwrites O (Matmul), 1 accumulates into it (AddMM).
        public double Alpha, Beta;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>
        {
            int nd = O.NDim;
            int M = O.ShapeRef[nd - 2], N = O.ShapeRef[nd - 1], K = A.ShapeRef[nd - 1];
            long batch = O.Size / Math.Max(1L, (long)M * N);
            if (M == 0 || N == 0)
            {
                return;
            }
            // Many small products: one per thread, each single-threaded; few large ones: each across all threads.
            bool acrossBatch = batch >= Parallelism.MaxThreads && (long)M * N * K <= 1L << 24;
            T alpha = T.CreateChecked(Alpha), beta = T.CreateChecked(Beta);
            nint pa = (nint)A.Ptr<T>(), pb = (nint)B.Ptr<T>(), po = (nint)O.Ptr<T>();
            int[] shape = O.ShapeRef;
            long[] sa = A.Strides, sb = B.Strides;
            void One(long bi, int threads)
            {
                long offA = 0, offB = 0, rem = bi;
                for (int d = nd - 3; d >= 0; d--)
                {
                    long i = rem % shape[d];
                    rem /= shape[d];
                    offA += i * sa[d];
                    offB += i * sb[d];
                }
                Gemm.Run(M, N, K, (T*)pa + offA, sa[nd - 2], sa[nd - 1], (T*)pb + offB, sb[nd - 2], sb[nd - 1],
                    (T*)po + bi * M * N, N, alpha, beta, threads);
            }
            if (acrossBatch)
            {
                Parallelism.For(batch, (long)M * N * K, (s, e) =>
                {
                    for (long bi = s; bi < e; bi++) One(bi, 1);
                });
            }
            else
            {
                for (long bi = 0; bi < batch; bi++) One(bi, Parallelism.MaxThreads);
            }
        }
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var g = cotangents[0];
        return argnums.Select(k => k == 0
            ? Mx.Matmul(g, Mx.SwapAxes(primals[1], -1, -2))
            : Mx.Matmul(Mx.SwapAxes(primals[0], -1, -2), g)).ToArray();
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        MxArray? total = null;
        for (int k = 0; k < argnums.Length; k++)
        {
            var part = argnums[k] == 0 ? Mx.Matmul(tangents[k], primals[1]) : Mx.Matmul(primals[0], tangents[k]);
            total = total is null ? part : Mx.Add(total, part);
        }
        return new[] { total! };
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        // The traced operands are already broadcast to equal batch dims; a leading batch axis is one more.
        var a = batched[0] ? inputs[0] : Mx.ExpandDims(inputs[0], 0);
        var b = batched[1] ? inputs[1] : Mx.ExpandDims(inputs[1], 0);
        return new[] { Mx.Matmul(a, b) };
    }
}

/// <summary>
/// alpha * (a @ b) + beta * c (MLX's AddMM, what nn.Linear computes with its bias): the output starts as c broadcast
/// and the GEMM accumulates into it, so the bias add costs no pass over memory of its own. Inputs are (c broadcast to
/// the output's shape, a, b) as Matmul's node has them; float32/float64 on the CPU (Mx.Addmm builds Matmul and Add
/// otherwise). Derivatives are those of that composition.
/// </summary>
internal sealed unsafe class AddMMPrimitive : Primitive
{
    public AddMMPrimitive(double alpha, double beta)
    {
        Alpha = alpha;
        Beta = beta;
    }

    public double Alpha { get; }

    public double Beta { get; }

    public override string Name => "AddMM";

    public override bool IsEquivalent(Primitive other) => other is AddMMPrimitive p && p.Alpha.Equals(Alpha) && p.Beta.Equals(Beta);

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var (c, o) = (inputs[0], outputs[0]);
        o.AllocateData();
        if (o.Size == 0) return;
        int size = o.ItemSize;
        if (size == 4) Strided.Copy(c.Ptr<float>(), o.ShapeRef, c.Strides, o.Ptr<float>());
        else Strided.Copy(c.Ptr<double>(), o.ShapeRef, c.Strides, o.Ptr<double>());
        var v = new MatmulPrimitive.Kernel { A = inputs[1], B = inputs[2], O = o, Alpha = Alpha, Beta = Beta };
        Dispatch.Float(o.DType, ref v);
    }

    internal static MxArray Composed(MxArray c, MxArray a, MxArray b, double alpha, double beta)
    {
        var ab = Mx.Matmul(a, b);
        if (alpha != 1.0) ab = Mx.Multiply(ab, alpha);
        return Mx.Add(beta == 1.0 ? c : Mx.Multiply(c, beta), ab);
    }

    private MxArray Composition(MxArray[] x) => Composed(x[0], x[1], x[2], Alpha, Beta);

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.VjpOfComposition(Composition, primals, cotangents, argnums);

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.JvpOfComposition(Composition, primals, tangents, argnums);

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        // All three operands have the output's batch dims already; a leading batch axis is one more.
        var x = inputs.Select((a, i) => batched[i] ? a : Mx.ExpandDims(a, 0)).ToArray();
        return new[] { Mx.Addmm(x[0], x[1], x[2], Alpha, Beta) };
    }
}

/// <summary>
/// segmented_mm: inputs (a (M, K), b (K, N), segments (..., 2) integers); output (..., M, N), each matrix the product
/// over one segment of the inner dimension. float16/bfloat16 run in float32.
/// </summary>
internal sealed unsafe class SegmentedMmPrimitive : Primitive
{
    public override string Name => "SegmentedMM";

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (o.DType is DType.Float16 or DType.BFloat16)
        {
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        o.AllocateData();
        var a = Cast.Contiguous(inputs[0]);
        var b = Cast.Contiguous(inputs[1]);
        var seg = Cast.Materialize(inputs[2], DType.Int64);
        try
        {
            int M = a.ShapeRef[0], K = a.ShapeRef[1], N = b.ShapeRef[1];
            long* s = seg.Ptr<long>();
            long count = seg.Size / 2;
            for (long i = 0; i < count; i++)
            {
                long start = s[2 * i], end = s[2 * i + 1];
                if (start < 0 || end > K || end < start)
                {
                    throw new IndexOutOfRangeException($"segmented_mm: segment [{start}, {end}) is not within [0, {K}).");
                }
            }
            var v = new Kernel { A = a, B = b, O = o, Segments = s, Count = count, M = M, N = N, K = K };
            Dispatch.Float(o.DType, ref v);
        }
        finally
        {
            Cast.ReleaseCopies(new[] { a, b }, inputs);
            seg.Buffer.Release();
        }
    }

    private struct Kernel : IFloatVisitor
    {
        public MxArray A, B, O;
        public long* Segments;
        public long Count;
        public int M, N, K;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>
        {
            T* a = A.Ptr<T>(), b = B.Ptr<T>(), o = O.Ptr<T>();
            for (long i = 0; i < Count; i++)
            {
                int start = (int)Segments[2 * i], len = (int)(Segments[2 * i + 1] - start);
                Gemm.Run(M, N, len, a + start, K, 1, b + (long)start * N, N, 1, o + i * M * N, N, T.One, T.Zero);
            }
        }
    }
}
