namespace Mlx.Nn;

public static partial class Nn
{
    /// <summary>relu(x)^2.</summary>
    public static MxArray Relu2(MxArray x) => Mx.Square(Mx.Maximum(x, 0));

    /// <summary>Softmax over <paramref name="axis"/>.</summary>
    public static MxArray Softmax(MxArray x, int axis = -1) => Mx.Softmax(x, axis);
}

// The activation layers of mlx.nn, named as MLX names them.

public sealed class Sigmoid : Module { public override MxArray Forward(MxArray x) => Nn.Sigmoid(x); }

public sealed class Mish : Module { public override MxArray Forward(MxArray x) => Nn.Mish(x); }

public sealed class ReLU : Module { public override MxArray Forward(MxArray x) => Nn.Relu(x); }

public sealed class ReLU2 : Module { public override MxArray Forward(MxArray x) => Nn.Relu2(x); }

public sealed class ReLU6 : Module { public override MxArray Forward(MxArray x) => Nn.Relu6(x); }

public sealed class Softmax : Module { public override MxArray Forward(MxArray x) => Nn.Softmax(x); }

public sealed class Softplus : Module { public override MxArray Forward(MxArray x) => Nn.Softplus(x); }

public sealed class Softsign : Module { public override MxArray Forward(MxArray x) => Nn.Softsign(x); }

public sealed class SiLU : Module { public override MxArray Forward(MxArray x) => Nn.Silu(x); }

public sealed class LogSoftmax : Module { public override MxArray Forward(MxArray x) => Nn.LogSoftmax(x); }

public sealed class LogSigmoid : Module { public override MxArray Forward(MxArray x) => Nn.LogSigmoid(x); }

public sealed class Tanh : Module { public override MxArray Forward(MxArray x) => Nn.Tanh(x); }

public sealed class Hardswish : Module { public override MxArray Forward(MxArray x) => Nn.HardSwish(x); }

public sealed class SELU : Module { public override MxArray Forward(MxArray x) => Nn.Selu(x); }

public sealed class Softmin : Module { public override MxArray Forward(MxArray x) => Nn.Softmin(x); }

public sealed class GLU : Module
{
    public GLU(int axis = -1) => Axis = axis;

    public int Axis { get; }

    public override MxArray Forward(MxArray x) => Nn.Glu(x, Axis);
}

public sealed class LeakyReLU : Module
{
    private readonly double _negativeSlope;

    public LeakyReLU(double negativeSlope = 1e-2) => _negativeSlope = negativeSlope;

    public override MxArray Forward(MxArray x) => Nn.LeakyRelu(x, _negativeSlope);
}

public sealed class ELU : Module
{
    private readonly double _alpha;

    public ELU(double alpha = 1.0) => _alpha = alpha;

    public override MxArray Forward(MxArray x) => Nn.Elu(x, _alpha);
}

public sealed class CELU : Module
{
    private readonly double _alpha;

    public CELU(double alpha = 1.0) => _alpha = alpha;

    public override MxArray Forward(MxArray x) => Nn.Celu(x, _alpha);
}

public sealed class Softshrink : Module
{
    public Softshrink(double lambd = 0.5) => Lambd = lambd;

    public double Lambd { get; }

    public override MxArray Forward(MxArray x) => Nn.SoftShrink(x, Lambd);
}

public sealed class HardShrink : Module
{
    public HardShrink(double lambd = 0.5) => Lambd = lambd;

    public double Lambd { get; }

    public override MxArray Forward(MxArray x) => Nn.HardShrink(x, Lambd);
}

public sealed class HardTanh : Module
{
    private readonly double _minVal, _maxVal;

    public HardTanh(double minVal = -1.0, double maxVal = 1.0) => (_minVal, _maxVal) = (minVal, maxVal);

    public override MxArray Forward(MxArray x) => Nn.HardTanh(x, _minVal, _maxVal);
}

/// <summary>1 where x >= threshold, else 0, as int32 (as MLX's step: where(x >= threshold, 1, 0)).</summary>
public sealed class Step : Module
{
    public Step(double threshold = 0.0) => Threshold = threshold;

    public double Threshold { get; }

    public override MxArray Forward(MxArray x) => Nn.Step(x, Threshold);
}

/// <summary>Parametric ReLU: max(0, x) + weight * min(0, x), weight (numParameters,) initialized to <c>init</c>.</summary>
public sealed class PReLU : Module
{
    public PReLU(int numParameters = 1, double init = 0.25)
    {
        Param("weight", Mx.Full(new[] { numParameters }, init));
    }

    public override MxArray Forward(MxArray x) => Nn.Prelu(x, P("weight"));
}

/// <summary>GELU with <c>approx</c> "none" (erf), "precise" or "tanh" (the tanh approximation), or "fast" (x sigmoid(1.702 x)).</summary>
public sealed class GELU : Module
{
    private readonly string _approx;

    public GELU(string approx = "none")
    {
        string[] allowed = { "none", "precise", "tanh", "fast" };
        if (!allowed.Contains(approx)) throw new ArgumentException($"The approximation should be in [{string.Join(", ", allowed)}] but '{approx}' was given");
        _approx = approx;
    }

    public override MxArray Forward(MxArray x) => _approx switch
    {
        "none" => Nn.Gelu(x),
        "precise" or "tanh" => Nn.GeluApprox(x),
        _ => Nn.GeluFastApprox(x),
    };
}
