using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>Which activation <see cref="Activations"/> computes.</summary>
public enum ActivationFn
{
    /// <summary>x sigmoid(x).</summary>
    Silu,

    /// <summary>x (1 + erf(x / sqrt 2)) / 2, erf as MLX's CPU backend computes it (see <see cref="Activations"/>).</summary>
    Gelu,

    /// <summary>x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.</summary>
    GeluApprox,

    /// <summary>x sigmoid(1.702 x).</summary>
    GeluFastApprox,
}

/// <summary>
/// Activations over float32 spans in one pass, every intermediate in registers (as ops they took three to five
/// passes over memory). gelu's erf is the one MLX's CPU backend uses for float32 (Abramowitz-Stegun 7.1.26, absolute
/// error under 1.5e-7, which gelu scales by x/2), not our 2-ulp <see cref="ErfFloat"/>: one division and one exp
/// in place of two polynomials and an exp, and the values MLX's nn.gelu gives.
/// </summary>
public static class Activations
{
    private const float InvSqrt2 = 0.70710678118654752f, SqrtTwoOverPi = 0.79788456080286536f;

    public static void Run(ActivationFn fn, ReadOnlySpan<float> x, Span<float> o)
    {
        // One loop per function (a switch inside the loop kept its constants out of registers).
        switch (fn)
        {
            case ActivationFn.Silu: VectorMap.RunWide<SiluFn>(x, o); break;
            case ActivationFn.Gelu: VectorMap.RunWide<GeluFn>(x, o); break;
            case ActivationFn.GeluApprox: VectorMap.RunWide<GeluApproxFn>(x, o); break;
            default: VectorMap.RunWide<GeluFastApproxFn>(x, o); break;
        }
    }

    public static float Apply(ActivationFn fn, float x) => fn switch
    {
        ActivationFn.Silu => SiluFn.Apply(x),
        ActivationFn.Gelu => GeluFn.Apply(x),
        ActivationFn.GeluApprox => GeluApproxFn.Apply(x),
        _ => GeluFastApproxFn.Apply(x),
    };

    private struct SiluFn : IWideFloatMap
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> x) => x * SigmoidTanhFloat.Sigmoid(x);
        public static Vector256<float> Apply(Vector256<float> x) => x * SigmoidTanhFloat.Sigmoid(x);
        public static float Apply(float x) => x * SigmoidTanhFloat.Sigmoid(x);
    }

    private struct GeluFn : IWideFloatMap
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> x) => x * Vector512.Create(0.5f) * (Vector512<float>.One + ErfAs(x * Vector512.Create(InvSqrt2)));
        public static Vector256<float> Apply(Vector256<float> x) => x * Vector256.Create(0.5f) * (Vector256<float>.One + ErfAs(x * Vector256.Create(InvSqrt2)));
        public static float Apply(float x) => x * 0.5f * (1f + ErfAs(x * InvSqrt2));
    }

    private struct GeluApproxFn : IWideFloatMap
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> x) => x * Vector512.Create(0.5f)
            * (Vector512<float>.One + SigmoidTanhFloat.Tanh(Vector512.Create(SqrtTwoOverPi) * Vector512.FusedMultiplyAdd(x * x * x, Vector512.Create(0.044715f), x)));
        public static Vector256<float> Apply(Vector256<float> x) => x * Vector256.Create(0.5f)
            * (Vector256<float>.One + SigmoidTanhFloat.Tanh(Vector256.Create(SqrtTwoOverPi) * Vector256.FusedMultiplyAdd(x * x * x, Vector256.Create(0.044715f), x)));
        public static float Apply(float x) => x * 0.5f * (1f + SigmoidTanhFloat.Tanh(SqrtTwoOverPi * MathF.FusedMultiplyAdd(x * x * x, 0.044715f, x)));
    }

    private struct GeluFastApproxFn : IWideFloatMap
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> x) => x * SigmoidTanhFloat.Sigmoid(x * Vector512.Create(1.702f));
        public static Vector256<float> Apply(Vector256<float> x) => x * SigmoidTanhFloat.Sigmoid(x * Vector256.Create(1.702f));
        public static float Apply(float x) => x * SigmoidTanhFloat.Sigmoid(x * 1.702f);
    }

    // Abramowitz-Stegun 7.1.26 as MLX's CPU erf: t = 1 / (1 + 0.3275911 |x|), erf = 1 - t r(t) exp(-x^2), signed.
    private const float A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f, P = 0.3275911f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ErfAs(Vector256<float> x)
    {
        var t = Vector256<float>.One / Vector256.FusedMultiplyAdd(Vector256.Create(P), Vector256.Abs(x), Vector256<float>.One);
        var r = Vector256.FusedMultiplyAdd(Vector256.Create(A5), t, Vector256.Create(A4));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(A3));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(A2));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(A1));
        var y = Vector256.FusedMultiplyAdd(-(t * r), ExpFloat.Exp(-(x * x)), Vector256<float>.One);
        return Vector256.CopySign(y, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ErfAs(Vector512<float> x)
    {
        var t = Vector512<float>.One / Vector512.FusedMultiplyAdd(Vector512.Create(P), Vector512.Abs(x), Vector512<float>.One);
        var r = Vector512.FusedMultiplyAdd(Vector512.Create(A5), t, Vector512.Create(A4));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(A3));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(A2));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(A1));
        var y = Vector512.FusedMultiplyAdd(-(t * r), ExpFloat.Exp(-(x * x)), Vector512<float>.One);
        return Vector512.CopySign(y, x);
    }

    private static float ErfAs(float x)
    {
        float t = 1f / MathF.FusedMultiplyAdd(P, MathF.Abs(x), 1f);
        float r = MathF.FusedMultiplyAdd(A5, t, A4);
        r = MathF.FusedMultiplyAdd(r, t, A3);
        r = MathF.FusedMultiplyAdd(r, t, A2);
        r = MathF.FusedMultiplyAdd(r, t, A1);
        return MathF.CopySign(MathF.FusedMultiplyAdd(-(t * r), MathF.Exp(-(x * x)), 1f), x);
    }
}
