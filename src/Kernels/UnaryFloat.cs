using System.Numerics;
using System.Numerics.Tensors;

namespace Mlx.Kernels;

/// <summary>Which floating-point unary function a kernel applies.</summary>
public enum UnaryFloatFn
{
    Abs, Negative, Exp, Expm1, Log, Log2, Log10, Log1p, Sin, Cos, Tan, Arcsin, Arccos, Arctan, Sinh, Cosh, Tanh, Arcsinh, Arccosh, Arctanh, Sigmoid, Sqrt, Rsqrt, Reciprocal, Square, Floor, Ceil, Round, Cbrt, Erf, Erfinv, Sign, Degrees, Radians,
}

/// <summary>Unary functions over float and double, one operator struct each.</summary>
public static unsafe class UnaryFloat
{
    public static void Run<T>(UnaryFloatFn fn, T* x, T* o, long n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (fn)
        {
            case UnaryFloatFn.Abs: Elementwise.Unary<T, T, AbsOp<T>>(x, o, n); break;
            case UnaryFloatFn.Negative: Elementwise.Unary<T, T, NegativeOp<T>>(x, o, n); break;
            case UnaryFloatFn.Exp: Elementwise.Unary<T, T, ExpOp<T>>(x, o, n); break;
            case UnaryFloatFn.Expm1: Elementwise.Unary<T, T, Expm1Op<T>>(x, o, n); break;
            case UnaryFloatFn.Log: Elementwise.Unary<T, T, LogOp<T>>(x, o, n); break;
            case UnaryFloatFn.Log2: Elementwise.Unary<T, T, Log2Op<T>>(x, o, n); break;
            case UnaryFloatFn.Log10: Elementwise.Unary<T, T, Log10Op<T>>(x, o, n); break;
            case UnaryFloatFn.Log1p: Elementwise.Unary<T, T, Log1pOp<T>>(x, o, n); break;
            case UnaryFloatFn.Sin: Elementwise.Unary<T, T, SinOp<T>>(x, o, n); break;
            case UnaryFloatFn.Cos: Elementwise.Unary<T, T, CosOp<T>>(x, o, n); break;
            case UnaryFloatFn.Tan: Elementwise.Unary<T, T, TanOp<T>>(x, o, n); break;
            case UnaryFloatFn.Arcsin: Elementwise.Unary<T, T, ArcsinOp<T>>(x, o, n); break;
            case UnaryFloatFn.Arccos: Elementwise.Unary<T, T, ArccosOp<T>>(x, o, n); break;
            case UnaryFloatFn.Arctan: Elementwise.Unary<T, T, ArctanOp<T>>(x, o, n); break;
            case UnaryFloatFn.Sinh: Elementwise.Unary<T, T, SinhOp<T>>(x, o, n); break;
            case UnaryFloatFn.Cosh: Elementwise.Unary<T, T, CoshOp<T>>(x, o, n); break;
            case UnaryFloatFn.Tanh: Elementwise.Unary<T, T, TanhOp<T>>(x, o, n); break;
            case UnaryFloatFn.Arcsinh: Elementwise.Unary<T, T, ArcsinhOp<T>>(x, o, n); break;
            case UnaryFloatFn.Arccosh: Elementwise.Unary<T, T, ArccoshOp<T>>(x, o, n); break;
            case UnaryFloatFn.Arctanh: Elementwise.Unary<T, T, ArctanhOp<T>>(x, o, n); break;
            case UnaryFloatFn.Sigmoid: Elementwise.Unary<T, T, SigmoidOp<T>>(x, o, n); break;
            case UnaryFloatFn.Sqrt: Elementwise.Unary<T, T, SqrtOp<T>>(x, o, n); break;
            case UnaryFloatFn.Rsqrt: Elementwise.Unary<T, T, RsqrtOp<T>>(x, o, n); break;
            case UnaryFloatFn.Reciprocal: Elementwise.Unary<T, T, ReciprocalOp<T>>(x, o, n); break;
            case UnaryFloatFn.Square: Elementwise.Unary<T, T, SquareOp<T>>(x, o, n); break;
            case UnaryFloatFn.Floor: Elementwise.Unary<T, T, FloorOp<T>>(x, o, n); break;
            case UnaryFloatFn.Ceil: Elementwise.Unary<T, T, CeilOp<T>>(x, o, n); break;
            case UnaryFloatFn.Round: Elementwise.Unary<T, T, RoundOp<T>>(x, o, n); break;
            case UnaryFloatFn.Cbrt: Elementwise.Unary<T, T, CbrtOp<T>>(x, o, n); break;
            case UnaryFloatFn.Erf: Elementwise.Unary<T, T, ErfOp<T>>(x, o, n); break;
            case UnaryFloatFn.Erfinv: Elementwise.Unary<T, T, ErfinvOp<T>>(x, o, n); break;
            case UnaryFloatFn.Sign: Elementwise.Unary<T, T, SignOp<T>>(x, o, n); break;
            case UnaryFloatFn.Degrees: Elementwise.Unary<T, T, DegreesOp<T>>(x, o, n); break;
            case UnaryFloatFn.Radians: Elementwise.Unary<T, T, RadiansOp<T>>(x, o, n); break;
            default: throw new ArgumentOutOfRangeException(nameof(fn));
        }
    }
}

public struct AbsOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Abs(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Abs(x, o);
    public static bool HasSpanForm => true;
}

public struct NegativeOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => -x;
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Negate(x, o);
    public static bool HasSpanForm => true;
}

public struct ExpOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Exp(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o)
    {
        if (typeof(T) == typeof(float))
        {
            ExpFloat.Run(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(o));
            return;
        }
        TensorPrimitives.Exp(x, o);
    }
    public static bool HasSpanForm => true;
}

/// <summary>exp(x) - 1 without cancellation near 0 (Kahan: (u - 1) * x / log(u)); T.ExpM1 and TensorPrimitives.ExpM1 compute exp(x) - 1.</summary>
public struct Expm1Op<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x)
    {
        T u = T.Exp(x);
        if (u == T.One)
        {
            return x;
        }
        T um1 = u - T.One;
        if (um1 == -T.One || T.IsInfinity(u))
        {
            return um1;
        }
        return um1 * x / T.Log(u);
    }
}

public struct LogOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Log(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o)
    {
        if (typeof(T) == typeof(float))
        {
            LogFloat.Run(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(o));
            return;
        }
        TensorPrimitives.Log(x, o);
    }
    public static bool HasSpanForm => true;
}

public struct Log2Op<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Log2(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Log2(x, o);
    public static bool HasSpanForm => true;
}

public struct Log10Op<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Log10(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Log10(x, o);
    public static bool HasSpanForm => true;
}

/// <summary>log(1 + x) without cancellation near 0 (Kahan: log(u) * x / (u - 1)); T.LogP1 and TensorPrimitives.LogP1 compute log(x + 1).</summary>
public struct Log1pOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x)
    {
        T u = T.One + x;
        if (u == T.One)
        {
            return x;
        }
        if (T.IsInfinity(u) || u <= T.Zero)
        {
            return T.Log(u);
        }
        return T.Log(u) * x / (u - T.One);
    }
}

public struct SinOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Sin(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o)
    {
        if (typeof(T) == typeof(float))
        {
            SinCosFloat.Sin(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(o));
            return;
        }
        TensorPrimitives.Sin(x, o);
    }
    public static bool HasSpanForm => true;
}

public struct CosOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Cos(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o)
    {
        if (typeof(T) == typeof(float))
        {
            SinCosFloat.Cos(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(o));
            return;
        }
        TensorPrimitives.Cos(x, o);
    }
    public static bool HasSpanForm => true;
}

public struct TanOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Tan(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Tan(x, o);
    public static bool HasSpanForm => true;
}

public struct ArcsinOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Asin(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Asin(x, o);
    public static bool HasSpanForm => true;
}

public struct ArccosOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Acos(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Acos(x, o);
    public static bool HasSpanForm => true;
}

public struct ArctanOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Atan(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Atan(x, o);
    public static bool HasSpanForm => true;
}

public struct SinhOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Sinh(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Sinh(x, o);
    public static bool HasSpanForm => true;
}

public struct CoshOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Cosh(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Cosh(x, o);
    public static bool HasSpanForm => true;
}

public struct TanhOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Tanh(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o)
    {
        if (typeof(T) == typeof(float))
        {
            SigmoidTanhFloat.Tanh(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(o));
            return;
        }
        TensorPrimitives.Tanh(x, o);
    }
    public static bool HasSpanForm => true;
}

public struct ArcsinhOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Asinh(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Asinh(x, o);
    public static bool HasSpanForm => true;
}

public struct ArccoshOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Acosh(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Acosh(x, o);
    public static bool HasSpanForm => true;
}

public struct ArctanhOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Atanh(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Atanh(x, o);
    public static bool HasSpanForm => true;
}

public struct SigmoidOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.One / (T.One + T.Exp(-x));
    public static void Span(ReadOnlySpan<T> x, Span<T> o)
    {
        if (typeof(T) == typeof(float))
        {
            SigmoidTanhFloat.Sigmoid(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(o));
            return;
        }
        TensorPrimitives.Sigmoid(x, o);
    }
    public static bool HasSpanForm => true;
}

public struct SqrtOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Sqrt(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Sqrt(x, o);
    public static bool HasSpanForm => true;
}

public struct RsqrtOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.One / T.Sqrt(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.ReciprocalSqrt(x, o);
    public static bool HasSpanForm => true;
}

public struct ReciprocalOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.One / x;
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Reciprocal(x, o);
    public static bool HasSpanForm => true;
}

public struct SquareOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => x * x;
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Multiply(x, x, o);
    public static bool HasSpanForm => true;
}

public struct FloorOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Floor(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Floor(x, o);
    public static bool HasSpanForm => true;
}

public struct CeilOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Ceiling(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Ceiling(x, o);
    public static bool HasSpanForm => true;
}

public struct RoundOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Round(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Round(x, o);
    public static bool HasSpanForm => true;
}

public struct CbrtOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.Cbrt(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) => TensorPrimitives.Cbrt(x, o);
    public static bool HasSpanForm => true;
}

public struct ErfOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => typeof(T) == typeof(float) ? (T)(object)ErfFloat.Erf((float)(object)x) : SpecialFunctions.Erf(x);
    public static void Span(ReadOnlySpan<T> x, Span<T> o) =>
        ErfFloat.Run(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(o));
    public static bool HasSpanForm => typeof(T) == typeof(float);
}

public struct ErfinvOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => SpecialFunctions.Erfinv(x);
}

public struct SignOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.IsNaN(x) ? x : (x > T.Zero ? T.One : (x < T.Zero ? -T.One : T.Zero));
}

public struct DegreesOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => x * T.CreateChecked(180.0 / Math.PI);
}

public struct RadiansOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => x * T.CreateChecked(Math.PI / 180.0);
}
