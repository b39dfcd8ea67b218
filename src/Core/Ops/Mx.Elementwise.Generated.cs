namespace Mlx;

public static partial class Mx
{
    public static MxArray Exp(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Exp, a, stream);

    public static MxArray Expm1(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Expm1, a, stream);

    public static MxArray Log(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Log, a, stream);

    public static MxArray Log2(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Log2, a, stream);

    public static MxArray Log10(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Log10, a, stream);

    public static MxArray Log1p(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Log1p, a, stream);

    public static MxArray Sin(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Sin, a, stream);

    public static MxArray Cos(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Cos, a, stream);

    public static MxArray Tan(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Tan, a, stream);

    public static MxArray Arcsin(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Arcsin, a, stream);

    public static MxArray Arccos(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Arccos, a, stream);

    public static MxArray Arctan(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Arctan, a, stream);

    public static MxArray Sinh(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Sinh, a, stream);

    public static MxArray Cosh(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Cosh, a, stream);

    public static MxArray Tanh(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Tanh, a, stream);

    public static MxArray Arcsinh(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Arcsinh, a, stream);

    public static MxArray Arccosh(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Arccosh, a, stream);

    public static MxArray Arctanh(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Arctanh, a, stream);

    public static MxArray Sigmoid(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Sigmoid, a, stream);

    public static MxArray Sqrt(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Sqrt, a, stream);

    public static MxArray Rsqrt(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Rsqrt, a, stream);

    public static MxArray Reciprocal(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Reciprocal, a, stream);

    public static MxArray Cbrt(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Cbrt, a, stream);

    public static MxArray Erf(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Erf, a, stream);

    public static MxArray Erfinv(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Erfinv, a, stream);

    public static MxArray Degrees(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Degrees, a, stream);

    public static MxArray Radians(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Radians, a, stream);

    public static MxArray Abs(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Abs, a, stream);

    public static MxArray Negative(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Negative, a, stream);

    public static MxArray Square(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Square, a, stream);

    public static MxArray Sign(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Sign, a, stream);

    public static MxArray Floor(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Floor, a, stream);

    public static MxArray Ceil(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Ceil, a, stream);

    public static MxArray Conjugate(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Conjugate, a, stream);

    public static MxArray Add(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Add, a, b, stream);

    public static MxArray Subtract(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Subtract, a, b, stream);

    public static MxArray Multiply(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Multiply, a, b, stream);

    public static MxArray Divide(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Divide, a, b, stream);

    public static MxArray FloorDivide(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.FloorDivide, a, b, stream);

    public static MxArray Remainder(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Remainder, a, b, stream);

    public static MxArray Power(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Power, a, b, stream);

    public static MxArray Maximum(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Maximum, a, b, stream);

    public static MxArray Minimum(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Minimum, a, b, stream);

    public static MxArray LogAddExp(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.LogAddExp, a, b, stream);

    public static MxArray ArcTan2(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.ArcTan2, a, b, stream);

    public static MxArray BitwiseAnd(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.BitwiseAnd, a, b, stream);

    public static MxArray BitwiseOr(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.BitwiseOr, a, b, stream);

    public static MxArray BitwiseXor(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.BitwiseXor, a, b, stream);

    public static MxArray LeftShift(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.LeftShift, a, b, stream);

    public static MxArray RightShift(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.RightShift, a, b, stream);

    public static MxArray LogicalAnd(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.LogicalAnd, a, b, stream);

    public static MxArray LogicalOr(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.LogicalOr, a, b, stream);

    public static MxArray Equal(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Equal, a, b, stream);

    public static MxArray NotEqual(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.NotEqual, a, b, stream);

    public static MxArray Less(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Less, a, b, stream);

    public static MxArray LessEqual(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.LessEqual, a, b, stream);

    public static MxArray Greater(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.Greater, a, b, stream);

    public static MxArray GreaterEqual(MxArray a, MxArray b, StreamOrDevice? stream = null) => Binary(BinaryOp.GreaterEqual, a, b, stream);

}
