using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// The four arithmetic ops, maximum and minimum straight over float16 or bfloat16 memory with AVX-512: 32 values of
/// each operand widened in registers, combined in float32 and rounded back once, as the tiled float32 path computes
/// them (bit for bit), without its scratch tiles: one read of each operand and one write. Operands are contiguous or
/// one broadcast scalar.
/// </summary>
public static unsafe class HalfArithmetic
{
    public static bool Supports(BinaryOp op) => Vector512.IsHardwareAccelerated
        && op is BinaryOp.Add or BinaryOp.Subtract or BinaryOp.Multiply or BinaryOp.Divide or BinaryOp.Maximum or BinaryOp.Minimum;

    /// <summary>o[i] = a[i] op b[i] over n values; a stride of 0 reads the same value throughout.</summary>
    public static void Run(BinaryOp op, ushort* a, long strideA, ushort* b, long strideB, ushort* o, long n, bool bfloat16)
    {
        nint pa = (nint)a, pb = (nint)b, po = (nint)o;
        Parallelism.For(n, 2, (s, e) =>
        {
            switch (op)
            {
                case BinaryOp.Add: Span<AddFn>((ushort*)pa, strideA, (ushort*)pb, strideB, (ushort*)po, s, e, bfloat16); break;
                case BinaryOp.Subtract: Span<SubtractFn>((ushort*)pa, strideA, (ushort*)pb, strideB, (ushort*)po, s, e, bfloat16); break;
                case BinaryOp.Multiply: Span<MultiplyFn>((ushort*)pa, strideA, (ushort*)pb, strideB, (ushort*)po, s, e, bfloat16); break;
                case BinaryOp.Divide: Span<DivideFn>((ushort*)pa, strideA, (ushort*)pb, strideB, (ushort*)po, s, e, bfloat16); break;
                case BinaryOp.Maximum: Span<MaximumFn>((ushort*)pa, strideA, (ushort*)pb, strideB, (ushort*)po, s, e, bfloat16); break;
                default: Span<MinimumFn>((ushort*)pa, strideA, (ushort*)pb, strideB, (ushort*)po, s, e, bfloat16); break;
            }
        });
    }

    private interface IFn
    {
        static abstract Vector512<float> Apply(Vector512<float> a, Vector512<float> b);
    }

    private struct AddFn : IFn { public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a + b; }
    private struct SubtractFn : IFn { public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a - b; }
    private struct MultiplyFn : IFn { public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a * b; }
    private struct DivideFn : IFn { public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a / b; }
    private struct MaximumFn : IFn { public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b); }
    private struct MinimumFn : IFn { public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.Min(a, b); }

    private static void Span<TF>(ushort* a, long strideA, ushort* b, long strideB, ushort* o, long s, long e, bool bfloat16) where TF : struct, IFn
    {
        long i = s;
        for (; i + 32 <= e; i += 32)
        {
            var va = strideA == 0 ? Vector512.Create(*a) : Vector512.Load(a + i);
            var vb = strideB == 0 ? Vector512.Create(*b) : Vector512.Load(b + i);
            var (a0, a1) = Conversions.Widen32(va, bfloat16);
            var (b0, b1) = Conversions.Widen32(vb, bfloat16);
            var r0 = TF.Apply(a0, b0).AsUInt32();
            var r1 = TF.Apply(a1, b1).AsUInt32();
            Vector512.Narrow(Conversions.Narrow16(r0, bfloat16), Conversions.Narrow16(r1, bfloat16)).Store(o + i);
        }
        if (i < e)
        {
            // The tail through a 32-value staging block, zero-padded (the padding's results are not stored).
            ushort* ta = stackalloc ushort[32], tb = stackalloc ushort[32], to = stackalloc ushort[32];
            int m = (int)(e - i);
            for (int k = 0; k < 32; k++)
            {
                ta[k] = k < m ? a[strideA == 0 ? 0 : i + k] : (ushort)0;
                tb[k] = k < m ? b[strideB == 0 ? 0 : i + k] : (ushort)0;
            }
            Span<TF>(ta, 1, tb, 1, to, 0, 32, bfloat16);
            for (int k = 0; k < m; k++) o[i + k] = to[k];
        }
    }
}
