namespace Mlx;

public static partial class Mx
{
    /// <summary>Applies a unary op; float functions of integer or bool input compute in float32, as MLX.</summary>
    public static MxArray Unary(UnaryOp op, MxArray a, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var dt = a.DType;
        bool keepsDType = op is UnaryOp.Abs or UnaryOp.Negative or UnaryOp.Square or UnaryOp.Sign or UnaryOp.Floor or UnaryOp.Ceil
            or UnaryOp.Round or UnaryOp.Conjugate or UnaryOp.BitwiseInvert;
        if (op is UnaryOp.BitwiseInvert && !(dt.IsInteger() || dt == DType.Bool))
        {
            throw new ArgumentException($"bitwise_invert needs an integer or bool array, not {dt.Name()}.");
        }
        if (dt == DType.Complex64 && !UnaryPrimitive.SupportsComplex(op))
        {
            throw new ArgumentException($"{op} is not defined for complex64 arrays.");
        }
        if (op is UnaryOp.BitwiseInvert && dt == DType.Bool)
        {
            // ~ on bools is logical not (a byte's ~ would give 254 and 255, which are not bools).
            op = UnaryOp.LogicalNot;
        }
        if (UnaryPrimitive.ReturnsBool(op))
        {
            return MxArray.Create(a.ShapeRef, DType.Bool, new UnaryPrimitive(op), a);
        }
        if (op == UnaryOp.Conjugate && dt != DType.Complex64)
        {
            // The conjugate of a real number is itself.
            return a;
        }
        if (op is UnaryOp.Real or UnaryOp.Imag)
        {
            if (dt != DType.Complex64)
            {
                return op == UnaryOp.Real ? a : ZerosLike(a);
            }
            return MxArray.Create(a.ShapeRef, DType.Float32, new UnaryPrimitive(op), a);
        }
        if (op == UnaryOp.Abs && dt == DType.Complex64)
        {
            return MxArray.Create(a.ShapeRef, DType.Float32, new UnaryPrimitive(op), a);
        }
        if (!keepsDType && !dt.IsInexact())
        {
            a = AsType(a, DType.Float32);
            dt = DType.Float32;
        }
        if (dt == DType.Bool && op is UnaryOp.Negative or UnaryOp.Square or UnaryOp.Sign or UnaryOp.Abs)
        {
            if (op == UnaryOp.Negative)
            {
                throw new ArgumentException("negative is not defined for bool arrays; use LogicalNot.");
            }
            return a;
        }
        return MxArray.Create(a.ShapeRef, dt, new UnaryPrimitive(op), a);
    }

    public static MxArray Round(MxArray a, int decimals = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (decimals == 0 || !a.DType.IsInexact())
        {
            return Unary(UnaryOp.Round, a, stream);
        }
        double scale = Math.Pow(10, decimals);
        return Divide(Unary(UnaryOp.Round, Multiply(a, scale)), scale);
    }

    public static MxArray LogicalNot(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.LogicalNot, a, stream);

    public static MxArray BitwiseInvert(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.BitwiseInvert, a, stream);

    public static MxArray IsNaN(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.IsNaN, a, stream);

    public static MxArray IsInf(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.IsInf, a, stream);

    public static MxArray IsPosInf(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.IsPosInf, a, stream);

    public static MxArray IsNegInf(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.IsNegInf, a, stream);

    public static MxArray IsFinite(MxArray a, StreamOrDevice? stream = null) =>
        LogicalNot(LogicalOr(IsNaN(a), IsInf(a)), stream);

    public static MxArray Real(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Real, a, stream);

    public static MxArray Imag(MxArray a, StreamOrDevice? stream = null) => Unary(UnaryOp.Imag, a, stream);

    /// <summary>NaN to 0 and infinities to the largest finite values (or the values given), as numpy.nan_to_num.</summary>
    public static MxArray NanToNum(MxArray a, double nan = 0.0, double? posinf = null, double? neginf = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (!a.DType.IsFloating())
        {
            return a;
        }
        double max = a.DType switch { DType.Float16 => 65504.0, DType.Float64 => double.MaxValue, DType.BFloat16 => 3.3895313892515355e38, _ => float.MaxValue };
        var r = Where(IsNaN(a), FullLike(a, nan), a);
        r = Where(IsPosInf(a), FullLike(a, posinf ?? max), r);
        return Where(IsNegInf(a), FullLike(a, neginf ?? -max), r);
    }

    /// <summary>The dtype a binary op computes in, with MLX's rule for C# literals (weak scalars).</summary>
    internal static DType ResultType(MxArray a, MxArray b)
    {
        if (a.IsWeak && !b.IsWeak)
        {
            return WeakResult(a.DType, b.DType);
        }
        if (b.IsWeak && !a.IsWeak)
        {
            return WeakResult(b.DType, a.DType);
        }
        return DTypes.Promote(a.DType, b.DType);
    }

    private static DType WeakResult(DType weak, DType strong)
    {
        if (weak.IsComplex())
        {
            return DType.Complex64;
        }
        if (weak.IsFloating())
        {
            return strong.IsInexact() ? strong : DType.Float32;
        }
        if (weak == DType.Bool)
        {
            return strong;
        }
        return strong == DType.Bool ? DType.Int32 : strong;
    }

    /// <summary>
    /// An operand converted to the op's dtype. A weak literal is rebuilt from its exact value, so a float64 array
    /// plus 0.1 adds the double 0.1 (not 0.1f) and an int64 array plus 3e9 adds 3e9 (not its int32 truncation).
    /// </summary>
    internal static MxArray CastOperand(MxArray x, DType dt)
    {
        if (x.IsWeak && x.DType != dt)
        {
            if (x.WeakFloat is double d && dt.IsInexact()) return Array(d, dt);
            if (x.WeakInt is long l && dt != DType.Bool) return Array(l, dt);
        }
        return AsType(x, dt);
    }

    /// <summary>Applies a binary op with promotion and broadcasting.</summary>
    public static MxArray Binary(BinaryOp op, MxArray a, MxArray b, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        DType dt = ResultType(a, b);
        switch (op)
        {
            case BinaryOp.Divide or BinaryOp.LogAddExp or BinaryOp.ArcTan2:
                if (!dt.IsInexact()) dt = DType.Float32;
                break;
            case BinaryOp.BitwiseAnd or BinaryOp.BitwiseOr or BinaryOp.BitwiseXor or BinaryOp.LeftShift or BinaryOp.RightShift:
                if (!(dt.IsInteger() || dt == DType.Bool))
                    throw new ArgumentException($"{op} needs integer or bool arrays, not {dt.Name()}.");
                break;
            case BinaryOp.LogicalAnd or BinaryOp.LogicalOr:
                dt = DType.Bool;
                break;
        }
        if (dt == DType.Bool && op is BinaryOp.LeftShift or BinaryOp.RightShift)
        {
            dt = DType.UInt8;
        }
        a = CastOperand(a, dt);
        b = CastOperand(b, dt);
        var shape = Shapes.Broadcast(a.ShapeRef, b.ShapeRef);
        a = BroadcastTo(a, shape);
        b = BroadcastTo(b, shape);
        var outType = BinaryPrimitive.IsComparison(op) ? DType.Bool : dt;
        return MxArray.Create(shape, outType, new BinaryPrimitive(op), a, b);
    }

    public static MxArray Add(MxArray a, double b, StreamOrDevice? stream = null) => Add(a, Weak(b), stream: stream);
    public static MxArray Subtract(MxArray a, double b, StreamOrDevice? stream = null) => Subtract(a, Weak(b), stream: stream);
    public static MxArray Subtract(double a, MxArray b, StreamOrDevice? stream = null) => Subtract(Weak(a), b, stream: stream);
    public static MxArray Multiply(MxArray a, double b, StreamOrDevice? stream = null) => Multiply(a, Weak(b), stream: stream);
    public static MxArray Divide(MxArray a, double b, StreamOrDevice? stream = null) => Divide(a, Weak(b), stream: stream);
    public static MxArray Power(MxArray a, double b, StreamOrDevice? stream = null) => Power(a, Weak(b), stream: stream);

    // Integer literals stay weak integers (mx.add(int_array, 1) is int32); without these they would bind to the
    // double overloads above and turn integer arrays into float32.
    public static MxArray Add(MxArray a, int b, StreamOrDevice? stream = null) => Add(a, Weak((long)b), stream: stream);
    public static MxArray Subtract(MxArray a, int b, StreamOrDevice? stream = null) => Subtract(a, Weak((long)b), stream: stream);
    public static MxArray Subtract(int a, MxArray b, StreamOrDevice? stream = null) => Subtract(Weak((long)a), b, stream: stream);
    public static MxArray Multiply(MxArray a, int b, StreamOrDevice? stream = null) => Multiply(a, Weak((long)b), stream: stream);
    public static MxArray Divide(MxArray a, int b, StreamOrDevice? stream = null) => Divide(a, Weak((long)b), stream: stream);
    public static MxArray Power(MxArray a, int b, StreamOrDevice? stream = null) => Power(a, Weak((long)b), stream: stream);
    public static MxArray Add(MxArray a, long b, StreamOrDevice? stream = null) => Add(a, Weak(b), stream: stream);
    public static MxArray Subtract(MxArray a, long b, StreamOrDevice? stream = null) => Subtract(a, Weak(b), stream: stream);
    public static MxArray Subtract(long a, MxArray b, StreamOrDevice? stream = null) => Subtract(Weak(a), b, stream: stream);
    public static MxArray Multiply(MxArray a, long b, StreamOrDevice? stream = null) => Multiply(a, Weak(b), stream: stream);
    public static MxArray Divide(MxArray a, long b, StreamOrDevice? stream = null) => Divide(a, Weak(b), stream: stream);
    public static MxArray Power(MxArray a, long b, StreamOrDevice? stream = null) => Power(a, Weak(b), stream: stream);

    /// <summary>Quotient and floored remainder: (FloorDivide(a, b), Remainder(a, b)).</summary>
    public static (MxArray Quotient, MxArray Remainder) DivMod(MxArray a, MxArray b, StreamOrDevice? stream = null) =>
        (FloorDivide(a, b, stream), Remainder(a, b, stream));

    public static MxArray LogicalXor(MxArray a, MxArray b, StreamOrDevice? stream = null) => NotEqual(AsType(a, DType.Bool), AsType(b, DType.Bool), stream);

    public static MxArray Where(MxArray condition, MxArray x, MxArray y, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var dt = ResultType(x, y);
        var shape = Shapes.Broadcast(Shapes.Broadcast(condition.ShapeRef, x.ShapeRef), y.ShapeRef);
        var c = BroadcastTo(AsType(condition, DType.Bool), shape);
        return MxArray.Create(shape, dt, new SelectPrimitive(), c, BroadcastTo(CastOperand(x, dt), shape), BroadcastTo(CastOperand(y, dt), shape));
    }

    /// <summary>Clips to [aMin, aMax]; either bound may be null (NaN propagates, as Maximum and Minimum do).</summary>
    public static MxArray Clip(MxArray a, MxArray? aMin, MxArray? aMax, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (aMin is null && aMax is null)
        {
            throw new ArgumentException("clip needs at least one of aMin and aMax.");
        }
        if (aMin is not null && aMax is not null)
        {
            // Compiled (as mlx.nn's activations are): one fused pass for float32 instead of two.
            return s_clipBoth(new[] { a, aMin, aMax })[0];
        }
        var r = a;
        if (aMin is not null) r = Maximum(r, aMin, stream);
        if (aMax is not null) r = Minimum(r, aMax, stream);
        return r;
    }

    private static readonly Func<MxArray[], MxArray[]> s_clipBoth = Compile(x => new[] { Minimum(Maximum(x[0], x[1]), x[2]) }, shapeless: true);

    public static MxArray IsClose(MxArray a, MxArray b, double rtol = 1e-5, double atol = 1e-8, bool equalNan = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        // |a - b| <= atol + rtol * |b|, with equal infinities close and NaN close to NaN only when asked.
        var diff = Abs(Subtract(a, b));
        var close = LessEqual(diff, Add(Multiply(Abs(b), rtol), atol));
        var bothInf = LogicalAnd(Equal(a, b), IsInf(a));
        close = LogicalOr(close, bothInf);
        if (equalNan)
        {
            close = LogicalOr(close, LogicalAnd(IsNaN(a), IsNaN(b)));
        }
        return close;
    }

    public static MxArray AllClose(MxArray a, MxArray b, double rtol = 1e-5, double atol = 1e-8, bool equalNan = false, StreamOrDevice? stream = null) =>
        All(IsClose(a, b, rtol, atol, equalNan, stream));

    /// <summary>True when the shapes match and every element is equal (NaN equal to NaN when asked).</summary>
    public static MxArray ArrayEqual(MxArray a, MxArray b, bool equalNan = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (!a.ShapeRef.SequenceEqual(b.ShapeRef))
        {
            return Array(false);
        }
        return All(equalNan ? Binary(BinaryOp.EqualNan, a, b, stream) : Equal(a, b, stream));
    }
}
