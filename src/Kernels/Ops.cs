using System.Numerics;
using System.Numerics.Tensors;

using Mlx;

namespace Mlx.Kernels;

// Binary arithmetic over any numeric T. Integer division by zero is left to the caller's rules (see Core).
public struct AddOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public static T Apply(T a, T b) => a + b;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Add(a, b, o);
    public static bool HasSpanForms => true;
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Add(a, b, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Add(b, a, o);
    public static bool HasScalarForms => true;
}

public struct SubtractOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public static T Apply(T a, T b) => a - b;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Subtract(a, b, o);
    public static bool HasSpanForms => true;
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Subtract(a, b, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Subtract(a, b, o);
    public static bool HasScalarForms => true;
}

public struct MultiplyOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public static T Apply(T a, T b) => a * b;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Multiply(a, b, o);
    public static bool HasSpanForms => true;
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Multiply(a, b, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Multiply(b, a, o);
    public static bool HasScalarForms => true;
}

public struct DivideOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => a / b;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Divide(a, b, o);
    public static bool HasSpanForms => true;
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Divide(a, b, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Divide(a, b, o);
    public static bool HasScalarForms => true;
}

/// <summary>Integer division that floors like NumPy; division by zero gives 0 (NumPy's result, without its warning).</summary>
public struct FloorDivideIntOp<T> : IBinaryOp<T, T> where T : unmanaged, IBinaryInteger<T>
{
    public static T Apply(T a, T b)
    {
        if (b == T.Zero)
        {
            return T.Zero;
        }
        if (T.IsNegative(b) && b == T.Zero - T.One)
        {
            // a / -1 overflows (throws) for the minimum value; NumPy wraps.
            return T.Zero - a;
        }
        T q = a / b;
        if ((a % b != T.Zero) && ((a < T.Zero) != (b < T.Zero)))
        {
            q -= T.One;
        }
        return q;
    }
}

public struct FloorDivideFloatOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => T.Floor(a / b);
}

/// <summary>Floored remainder (sign of the divisor), as Python's and MLX's %; x % 0 is 0 for integers.</summary>
public struct RemainderIntOp<T> : IBinaryOp<T, T> where T : unmanaged, IBinaryInteger<T>
{
    public static T Apply(T a, T b)
    {
        if (b == T.Zero || (T.IsNegative(b) && b == T.Zero - T.One))
        {
            // x % -1 is 0, and computing it throws for the minimum value.
            return T.Zero;
        }
        T r = a % b;
        if (r != T.Zero && ((r < T.Zero) != (b < T.Zero)))
        {
            r += b;
        }
        return r;
    }
}

public struct RemainderFloatOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b)
    {
        T r = a % b;
        if (r != T.Zero && ((r < T.Zero) != (b < T.Zero)))
        {
            r += b;
        }
        return r;
    }
}

public struct PowerFloatOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => T.Pow(a, b);
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Pow(a, b, o);
    public static bool HasSpanForms => true;
}

/// <summary>Integer power by squaring; a negative exponent gives 0 except for bases 1 and -1, as in C integer math.</summary>
public struct PowerIntOp<T> : IBinaryOp<T, T> where T : unmanaged, IBinaryInteger<T>
{
    public static T Apply(T a, T b)
    {
        if (b < T.Zero)
        {
            return a == T.One ? T.One : (a == T.Zero - T.One ? (T.IsEvenInteger(b) ? T.One : a) : T.Zero);
        }
        T result = T.One;
        while (b != T.Zero)
        {
            if (T.IsOddInteger(b))
            {
                result *= a;
            }
            a *= a;
            b >>= 1;
        }
        return result;
    }
}

/// <summary>Maximum that propagates NaN (MLX and NumPy semantics).</summary>
public struct MaximumOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public static T Apply(T a, T b) => T.IsNaN(a) || T.IsNaN(b) ? (T.IsNaN(a) ? a : b) : (a > b ? a : b);
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Max(a, b, o);
    public static bool HasSpanForms => true;
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Max(a, b, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Max(b, a, o);
    public static bool HasScalarForms => true;
}

public struct MinimumOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public static T Apply(T a, T b) => T.IsNaN(a) || T.IsNaN(b) ? (T.IsNaN(a) ? a : b) : (a < b ? a : b);
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Min(a, b, o);
    public static bool HasSpanForms => true;
    public static void VS(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Min(a, b, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Min(b, a, o);
    public static bool HasScalarForms => true;
}

public struct LogAddExpOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b)
    {
        if (T.IsNaN(a) || T.IsNaN(b))
        {
            return T.NaN;
        }
        T max = T.Max(a, b), min = T.Min(a, b);
        if (T.IsNegativeInfinity(min) || T.IsPositiveInfinity(max))
        {
            return max;
        }
        return max + T.LogP1(T.Exp(min - max));
    }
}

public struct Atan2Op<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => T.Atan2(a, b);
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Atan2(a, b, o);
    public static bool HasSpanForms => true;
}

public struct HypotOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => T.Hypot(a, b);
}

public struct BitwiseAndOp<T> : IBinaryOp<T, T> where T : unmanaged, IBinaryInteger<T>
{
    public static T Apply(T a, T b) => a & b;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.BitwiseAnd(a, b, o);
    public static bool HasSpanForms => true;
}

public struct BitwiseOrOp<T> : IBinaryOp<T, T> where T : unmanaged, IBinaryInteger<T>
{
    public static T Apply(T a, T b) => a | b;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.BitwiseOr(a, b, o);
    public static bool HasSpanForms => true;
}

public struct BitwiseXorOp<T> : IBinaryOp<T, T> where T : unmanaged, IBinaryInteger<T>
{
    public static T Apply(T a, T b) => a ^ b;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Xor(a, b, o);
    public static bool HasSpanForms => true;
}

/// <summary>Shifts by the full bit width or more give 0 (or -1 for a negative value shifted right), not C#'s masked count.</summary>
public struct LeftShiftOp<T> : IBinaryOp<T, T> where T : unmanaged, IBinaryInteger<T>
{
    public static T Apply(T a, T b)
    {
        int bits = System.Runtime.CompilerServices.Unsafe.SizeOf<T>() * 8;
        return b < T.Zero || b >= T.CreateTruncating(bits) ? T.Zero : a << int.CreateTruncating(b);
    }
}

public struct RightShiftOp<T> : IBinaryOp<T, T> where T : unmanaged, IBinaryInteger<T>
{
    public static T Apply(T a, T b)
    {
        int bits = System.Runtime.CompilerServices.Unsafe.SizeOf<T>() * 8;
        if (b < T.Zero || b >= T.CreateTruncating(bits))
        {
            return a < T.Zero ? T.Zero - T.One : T.Zero;
        }
        return a >> int.CreateTruncating(b);
    }
}

// Comparisons give bool.
public struct EqualOp<T> : IBinaryOp<T, bool> where T : unmanaged, IEqualityOperators<T, T, bool>
{
    public static bool Apply(T a, T b) => a == b;
    public static bool HasSpanForms => true;
    public static bool HasScalarForms => true;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, EqualOp<T>, EqualVectors>(a, false, b, false, o);
    public static void VS(ReadOnlySpan<T> a, T b, Span<bool> o) => Comparison.Run<T, EqualOp<T>, EqualVectors>(a, false, new ReadOnlySpan<T>(in b), true, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, EqualOp<T>, EqualVectors>(new ReadOnlySpan<T>(in a), true, b, false, o);
}

public struct NotEqualOp<T> : IBinaryOp<T, bool> where T : unmanaged, IEqualityOperators<T, T, bool>
{
    public static bool Apply(T a, T b) => a != b;
    public static bool HasSpanForms => true;
    public static bool HasScalarForms => true;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, NotEqualOp<T>, NotEqualVectors>(a, false, b, false, o);
    public static void VS(ReadOnlySpan<T> a, T b, Span<bool> o) => Comparison.Run<T, NotEqualOp<T>, NotEqualVectors>(a, false, new ReadOnlySpan<T>(in b), true, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, NotEqualOp<T>, NotEqualVectors>(new ReadOnlySpan<T>(in a), true, b, false, o);
}

public struct LessOp<T> : IBinaryOp<T, bool> where T : unmanaged, IComparisonOperators<T, T, bool>
{
    public static bool Apply(T a, T b) => a < b;
    public static bool HasSpanForms => true;
    public static bool HasScalarForms => true;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, LessOp<T>, LessVectors>(a, false, b, false, o);
    public static void VS(ReadOnlySpan<T> a, T b, Span<bool> o) => Comparison.Run<T, LessOp<T>, LessVectors>(a, false, new ReadOnlySpan<T>(in b), true, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, LessOp<T>, LessVectors>(new ReadOnlySpan<T>(in a), true, b, false, o);
}

public struct LessEqualOp<T> : IBinaryOp<T, bool> where T : unmanaged, IComparisonOperators<T, T, bool>
{
    public static bool Apply(T a, T b) => a <= b;
    public static bool HasSpanForms => true;
    public static bool HasScalarForms => true;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, LessEqualOp<T>, LessEqualVectors>(a, false, b, false, o);
    public static void VS(ReadOnlySpan<T> a, T b, Span<bool> o) => Comparison.Run<T, LessEqualOp<T>, LessEqualVectors>(a, false, new ReadOnlySpan<T>(in b), true, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, LessEqualOp<T>, LessEqualVectors>(new ReadOnlySpan<T>(in a), true, b, false, o);
}

public struct GreaterOp<T> : IBinaryOp<T, bool> where T : unmanaged, IComparisonOperators<T, T, bool>
{
    public static bool Apply(T a, T b) => a > b;
    public static bool HasSpanForms => true;
    public static bool HasScalarForms => true;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, GreaterOp<T>, GreaterVectors>(a, false, b, false, o);
    public static void VS(ReadOnlySpan<T> a, T b, Span<bool> o) => Comparison.Run<T, GreaterOp<T>, GreaterVectors>(a, false, new ReadOnlySpan<T>(in b), true, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, GreaterOp<T>, GreaterVectors>(new ReadOnlySpan<T>(in a), true, b, false, o);
}

public struct GreaterEqualOp<T> : IBinaryOp<T, bool> where T : unmanaged, IComparisonOperators<T, T, bool>
{
    public static bool Apply(T a, T b) => a >= b;
    public static bool HasSpanForms => true;
    public static bool HasScalarForms => true;
    public static void VV(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, GreaterEqualOp<T>, GreaterEqualVectors>(a, false, b, false, o);
    public static void VS(ReadOnlySpan<T> a, T b, Span<bool> o) => Comparison.Run<T, GreaterEqualOp<T>, GreaterEqualVectors>(a, false, new ReadOnlySpan<T>(in b), true, o);
    public static void SV(T a, ReadOnlySpan<T> b, Span<bool> o) => Comparison.Run<T, GreaterEqualOp<T>, GreaterEqualVectors>(new ReadOnlySpan<T>(in a), true, b, false, o);
}

/// <summary>NaN == NaN, for array_equal(equal_nan=True) and isclose(equal_nan=True).</summary>
public struct EqualNanOp<T> : IBinaryOp<T, bool> where T : unmanaged, INumberBase<T>
{
    public static bool Apply(T a, T b) => a == b || (T.IsNaN(a) && T.IsNaN(b));
}

public struct LogicalAndOp : IBinaryOp<bool, bool>
{
    public static bool Apply(bool a, bool b) => a & b;
}

public struct LogicalOrOp : IBinaryOp<bool, bool>
{
    public static bool Apply(bool a, bool b) => a | b;
}

public struct LogicalXorOp : IBinaryOp<bool, bool>
{
    public static bool Apply(bool a, bool b) => a ^ b;
}


public struct ComplexAddOp : IBinaryOp<Complex64, Complex64>
{
    public static Complex64 Apply(Complex64 a, Complex64 b) => a + b;
}

public struct ComplexSubtractOp : IBinaryOp<Complex64, Complex64>
{
    public static Complex64 Apply(Complex64 a, Complex64 b) => a - b;
}

public struct ComplexMultiplyOp : IBinaryOp<Complex64, Complex64>
{
    public static Complex64 Apply(Complex64 a, Complex64 b) => a * b;
}

public struct ComplexDivideOp : IBinaryOp<Complex64, Complex64>
{
    public static Complex64 Apply(Complex64 a, Complex64 b) => a / b;
}
