using System.Numerics;
using Mlx.Kernels;

namespace Mlx;

/// <summary>
/// Partition or argpartition along an axis (the kth element where a stable sort puts it, no later one before it,
/// no earlier one after it) by quickselect over integer keys, as numpy and MLX's partition: O(n) a row, not a sort.
/// </summary>
internal sealed class PartitionPrimitive : Primitive
{
    public PartitionPrimitive(int axis, int kth, bool indices) => (Axis, Kth, Indices) = (axis, kth, indices);

    public int Axis { get; }
    public int Kth { get; }
    public bool Indices { get; }

    public override string Name => Indices ? "ArgPartition" : "Partition";

    public override bool IsEquivalent(Primitive other) => other is PartitionPrimitive p && p.Axis == Axis && p.Kth == Kth && p.Indices == Indices;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs) =>
        SelectionRows.Run(inputs[0], outputs[0], Axis, Indices, inputs[0].ShapeRef[Axis], new Rows { Kth = Kth });

    private struct Rows : SelectionRows.IRowKernel
    {
        public int Kth;

        public unsafe void Run<T>(T* x, T* values, uint* indices, long rows, int n) where T : unmanaged =>
            Selection.PartitionRows(x, values, indices, rows, n, Kth);
    }

    // Values follow the argpartition, like sort's; positions are piecewise constant.
    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        new[] { Indices ? Mx.ZerosLike(primals[0]) : Mx.PutAlongAxisRaw(Mx.ZerosLike(primals[0]), Mx.ArgPartition(primals[0], Kth, Axis), cotangents[0], Axis, ScatterMode.None) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        new[] { Indices ? Mx.ZerosLike(outputs[0]) : Mx.TakeAlongAxisRaw(tangents[0], Mx.ArgPartition(primals[0], Kth, Axis), Axis) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(inputs[0].ShapeRef, outputs[0].DType, new PartitionPrimitive(Axis + 1, Kth, Indices), inputs[0]) };
}

/// <summary>
/// The k largest elements along an axis (or their positions), in ascending order: the last k of a stable sort,
/// found in about one pass for small k and by quickselect otherwise; only the k are written.
/// </summary>
internal sealed class TopKPrimitive : Primitive
{
    public TopKPrimitive(int axis, int k, bool indices) => (Axis, K, Indices) = (axis, k, indices);

    public int Axis { get; }
    public int K { get; }
    public bool Indices { get; }

    public override string Name => Indices ? "ArgTopK" : "TopK";

    public override bool IsEquivalent(Primitive other) => other is TopKPrimitive p && p.Axis == Axis && p.K == K && p.Indices == Indices;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs) =>
        SelectionRows.Run(inputs[0], outputs[0], Axis, Indices, K, new Rows { K = K });

    private struct Rows : SelectionRows.IRowKernel
    {
        public int K;

        public unsafe void Run<T>(T* x, T* values, uint* indices, long rows, int n) where T : unmanaged =>
            Selection.TopKRows(x, values, indices, rows, n, K);
    }

    internal static MxArray Positions(MxArray x, int k, int axis)
    {
        var shape = (int[])x.ShapeRef.Clone();
        shape[axis] = k;
        return MxArray.Create(shape, DType.UInt32, new TopKPrimitive(axis, k, true), x);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        new[] { Indices ? Mx.ZerosLike(primals[0]) : Mx.PutAlongAxisRaw(Mx.ZerosLike(primals[0]), Positions(primals[0], K, Axis), cotangents[0], Axis, ScatterMode.None) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        new[] { Indices ? Mx.ZerosLike(outputs[0]) : Mx.TakeAlongAxisRaw(tangents[0], Positions(primals[0], K, Axis), Axis) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(new[] { inputs[0].ShapeRef[0] }.Concat(outputs[0].ShapeRef).ToArray(), outputs[0].DType, new TopKPrimitive(Axis + 1, K, Indices), inputs[0]) };
}

/// <summary>The axis moved last into a row-major scratch (half types widened to float32), a row kernel, the axis put back.</summary>
internal static unsafe class SelectionRows
{
    public interface IRowKernel
    {
        void Run<T>(T* x, T* values, uint* indices, long rows, int n) where T : unmanaged;
    }

    public static void Run<TK>(MxArray x, MxArray o, int axis, bool indices, int outLength, TK kernel) where TK : struct, IRowKernel
    {
        DType work = x.DType switch { DType.Float16 or DType.BFloat16 => DType.Float32, DType.Bool => DType.UInt8, _ => x.DType };
        if (work is DType.Complex64) throw new NotSupportedException("Partitioning complex64 arrays is not supported.");
        var scratch = AxisLast.Gather(x, axis, work);
        int n = x.ShapeRef[axis];
        long rows = n == 0 ? 0 : x.Size / n;
        var shape = (int[])scratch.ShapeRef.Clone();
        shape[^1] = outLength;
        var resultDType = indices ? DType.UInt32 : work;
        long count = rows * outLength;
        var result = new MxArray(shape, resultDType, Allocator.Allocate(count * resultDType.Size()), MxArray.RowMajorStrides(shape), 0);
        var v = new Visitor<TK> { Kernel = kernel, X = scratch, O = result, Rows = rows, N = n, Indices = indices };
        if (Dispatch.IsComputeFloat(work)) Dispatch.Float(work, ref v); else Dispatch.Int(work, ref v);
        scratch.Buffer.Release();
        if (!indices && work != x.DType)
        {
            var back = Cast.Materialize(result, x.DType);
            result.Buffer.Release();
            result = back;
        }
        AxisLast.Restore(result, o, axis);
    }

    private struct Visitor<TK> : IFloatVisitor, IIntVisitor where TK : struct, IRowKernel
    {
        public TK Kernel;
        public MxArray X, O;
        public long Rows;
        public int N;
        public bool Indices;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T> => Run<T>();

        void IIntVisitor.Visit<T>() => Run<T>();

        private void Run<T>() where T : unmanaged =>
            Kernel.Run(X.Ptr<T>(), Indices ? null : O.Ptr<T>(), Indices ? O.Ptr<uint>() : null, Rows, N);
    }
}
