namespace Mlx;

// The elementwise op codes live with the kernels so that every backend (CPU, ILGPU) reads the same enum.

/// <summary>Unary ops. The first members mirror <see cref="Mlx.Kernels.UnaryFloatFn"/> value for value.</summary>
public enum UnaryOp
{
    Abs, Negative, Exp, Expm1, Log, Log2, Log10, Log1p, Sin, Cos, Tan, Arcsin, Arccos, Arctan, Sinh, Cosh, Tanh,
    Arcsinh, Arccosh, Arctanh, Sigmoid, Sqrt, Rsqrt, Reciprocal, Square, Floor, Ceil, Round, Cbrt, Erf, Erfinv, Sign,
    Degrees, Radians,
    LogicalNot, BitwiseInvert, IsNaN, IsInf, IsPosInf, IsNegInf, Conjugate, Real, Imag,
}

public enum BinaryOp
{
    Add, Subtract, Multiply, Divide, FloorDivide, Remainder, Power, Maximum, Minimum, LogAddExp, ArcTan2,
    BitwiseAnd, BitwiseOr, BitwiseXor, LeftShift, RightShift, LogicalAnd, LogicalOr,
    Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual, EqualNan,
}
