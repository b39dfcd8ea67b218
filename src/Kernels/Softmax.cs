using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// Softmax of contiguous rows: max, then exp(x - max) written to the output while summing, then a scale by 1/sum.
/// A row is read once from memory; the second and third passes find it in cache.
/// </summary>
public static unsafe class Softmax
{
    /// <summary>y[r, :] = softmax(x[r, :]) for rows of length n; x and y may be the same memory.</summary>
    public static void Rows(float* x, float* y, long rows, int n)
    {
        if (rows == 0 || n == 0)
        {
            return;
        }
        nint px = (nint)x, py = (nint)y;
        Parallelism.For(rows, (long)n * 8, (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                Row((float*)px + r * n, (float*)py + r * n, n);
            }
        });
    }

    /// <summary>The double version (log-softmax with <paramref name="log"/>): TensorPrimitives passes over the row (all but the first hit cache).</summary>
    public static void Rows(double* x, double* y, long rows, int n, bool log = false)
    {
        if (rows == 0 || n == 0)
        {
            return;
        }
        nint px = (nint)x, py = (nint)y;
        Parallelism.For(rows, (long)n * 8, (s, e) =>
        {
            var exps = log ? new double[n] : null;
            for (long r = s; r < e; r++)
            {
                var src = new ReadOnlySpan<double>((double*)px + r * n, n);
                var dst = new Span<double>((double*)py + r * n, n);
                double max = TensorPrimitives.Max(src);
                if (!double.IsFinite(max))
                {
                    // NaN, +inf or an all -inf row: inf - inf makes every output NaN, as the formula does.
                    dst.Fill(double.NaN);
                    continue;
                }
                TensorPrimitives.Subtract(src, max, dst);
                if (log)
                {
                    TensorPrimitives.Exp(dst, exps);
                    TensorPrimitives.Subtract(dst, Math.Log(TensorPrimitives.Sum<double>(exps)), dst);
                }
                else
                {
                    TensorPrimitives.Exp(dst, dst);
                    TensorPrimitives.Multiply(dst, 1.0 / TensorPrimitives.Sum<double>(dst), dst);
                }
            }
        });
    }

    private static void Row(float* x, float* y, int n)
    {
        float sum = ExpSum(x, y, n, out _);
        TensorPrimitives.Multiply(new ReadOnlySpan<float>(y, n), 1f / sum, new Span<float>(y, n));
    }

    /// <summary>
    /// y[r, :] = log softmax(x[r, :]) = (x - max) - log(sum(exp(x - max))) for rows of length n, x and y separate
    /// memory or the same: the row is read from memory once; the exps go to y and are overwritten by the result.
    /// </summary>
    public static void LogRows(float* x, float* y, long rows, int n)
    {
        if (rows == 0 || n == 0)
        {
            return;
        }
        nint px = (nint)x, py = (nint)y;
        Parallelism.For(rows, (long)n * 8, (s, e) =>
        {
            // In place, the exps cannot go to y (they would overwrite x before the last pass reads it).
            var exps = px == py ? new float[n] : null;
            fixed (float* scratch = exps)
            for (long r = s; r < e; r++)
            {
                float* xr = (float*)px + r * n, yr = (float*)py + r * n;
                float sum = ExpSum(xr, scratch != null ? scratch : yr, n, out float max);
                if (float.IsNaN(sum))
                {
                    new Span<float>(yr, n).Fill(float.NaN);
                    continue;
                }
                // (x - max) is exact near the max; the log of the sum comes off after it, not folded into the max.
                var dst = new Span<float>(yr, n);
                TensorPrimitives.Subtract(new ReadOnlySpan<float>(xr, n), max, dst);
                TensorPrimitives.Subtract(dst, MathF.Log(sum), dst);
            }
        });
    }

    /// <summary>
    /// o[r] = log(sum(exp(x[r, :]))) for rows of length n, shifted by the row's max: one read of each row (the exps go
    /// to a scratch row in cache). A row whose max is +inf gives +inf, an all -inf row -inf, a NaN NaN.
    /// </summary>
    public static void LogSumExpRows(float* x, float* o, long rows, int n)
    {
        if (rows == 0) return;
        nint px = (nint)x, po = (nint)o;
        Parallelism.For(rows, (long)Math.Max(n, 1) * 8, (s, e) =>
        {
            var exps = new float[Math.Max(n, 1)];
            fixed (float* scratch = exps)
            for (long r = s; r < e; r++)
            {
                float* xr = (float*)px + r * n;
                float max = n == 0 ? float.NegativeInfinity : TensorPrimitives.Max(new ReadOnlySpan<float>(xr, n));
                ((float*)po)[r] = float.IsFinite(max) ? max + MathF.Log(ExpSum(xr, scratch, n, out _)) : max;
            }
        });
    }


    /// <summary>
    /// y = exp(x - max(x)) over one row (x and y may be the same memory), returning the sum: softmax without its
    /// final scale. A row whose max is not finite (NaN, +inf, all -inf) becomes NaN, as the formula gives.
    /// </summary>
    internal static float ExpSum(float* x, float* y, int n, out float max)
    {
        max = TensorPrimitives.Max(new ReadOnlySpan<float>(x, n));
        if (!float.IsFinite(max))
        {
            new Span<float>(y, n).Fill(float.NaN);
            return float.NaN;
        }
        // From here every x - max is in [-inf, 0] (no NaN: Max propagates it).
        float sum = 0;
        int i = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var vm = Vector512.Create(max);
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i <= n - 32; i += 32)
            {
                var e0 = Exp(Vector512.Load(x + i) - vm);
                var e1 = Exp(Vector512.Load(x + i + 16) - vm);
                e0.Store(y + i);
                e1.Store(y + i + 16);
                acc0 += e0;
                acc1 += e1;
            }
            for (; i <= n - 16; i += 16)
            {
                var e0 = Exp(Vector512.Load(x + i) - vm);
                e0.Store(y + i);
                acc0 += e0;
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var vm = Vector256.Create(max);
            var acc = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var e0 = Exp(Vector256.Load(x + i) - vm);
                e0.Store(y + i);
                acc += e0;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            float e0 = MathF.Exp(x[i] - max);
            y[i] = e0;
            sum += e0;
        }
        return sum;
    }

    // exp(t) for t <= 0 with ExpFloat's reduction and polynomial (about 1 ulp). t is clamped at -88 where k = -127
    // gives a zero scale, so -inf and deep underflow give exactly 0 (a softmax term that small is 0 anyway).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exp(Vector512<float> t)
    {
        t = Vector512.MaxNative(t, Vector512.Create(-88f));
        var kr = Vector512.FusedMultiplyAdd(t, Vector512.Create(ExpFloat.Log2E), Vector512.Create(ExpFloat.RoundMagic));
        var k = kr - Vector512.Create(ExpFloat.RoundMagic);
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-ExpFloat.Ln2Hi), t);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-ExpFloat.Ln2Lo), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(ExpFloat.P0), r, Vector512.Create(ExpFloat.P1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpFloat.P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpFloat.P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpFloat.P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpFloat.P5));
        p = Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
        // The low bits of kr hold k (as an integer, offset by the magic); k + 127 shifted into the exponent is 2^k.
        var scale = ((kr.AsInt32() - Vector512.Create(BitConverter.SingleToInt32Bits(ExpFloat.RoundMagic)) + Vector512.Create(127)) << 23).AsSingle();
        return p * scale;
    }

    // The AVX2 path takes the general kernel (its extra clamp and split scale cost little there).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Exp(Vector256<float> t) => ExpFloat.Exp(t);
}
