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
            Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        var v = new Kernel { A = inputs[0], B = inputs[1], O = outputs[0] };
        outputs[0].AllocateData();
        Dispatch.Float(outputs[0].DType, ref v);
    }

    private struct Kernel : IFloatVisitor
    {
        public MxArray A, B, O;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>
        {
            int nd = O.NDim;
            int M = O.ShapeRef[nd - 2], N = O.ShapeRef[nd - 1], K = A.ShapeRef[nd - 1];
            long batch = O.Size / Math.Max(1L, (long)M * N);
            if (M == 0 || N == 0)
            {
                return;
            }
            for (long bi = 0; bi < batch; bi++)
            {
                long offA = 0, offB = 0, rem = bi;
                for (int d = nd - 3; d >= 0; d--)
                {
                    long i = rem % O.ShapeRef[d];
                    rem /= O.ShapeRef[d];
                    offA += i * A.Strides[d];
                    offB += i * B.Strides[d];
                }
                Gemm.Run(M, N, K, A.Ptr<T>() + offA, A.Strides[nd - 2], A.Strides[nd - 1], B.Ptr<T>() + offB, B.Strides[nd - 2], B.Strides[nd - 1],
                    O.Ptr<T>() + bi * M * N, N, T.One, T.Zero);
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
}
