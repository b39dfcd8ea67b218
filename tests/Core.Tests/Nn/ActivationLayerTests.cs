using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

public class ActivationLayerTests
{
    private static readonly double[] X = { -3.5, -1.2, -0.5, -0.1, 0, 0.3, 0.5, 1, 2.7, 7 };

    private static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));

    private static double Erf(double x)
    {
        // The Maclaurin series (accurate to ~1e-9 for |x| <= 4); erfc(4) < 2e-8.
        if (Math.Abs(x) > 4) return Math.Sign(x);
        double sum = 0, term = x;
        for (int n = 0; n < 120; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    public static IEnumerable<object[]> Elementwise() => new (string, Func<Module>, Func<double, double>)[]
    {
        ("ReLU", () => new ReLU(), x => Math.Max(x, 0)),
        ("ReLU2", () => new ReLU2(), x => Math.Max(x, 0) * Math.Max(x, 0)),
        ("ReLU6", () => new ReLU6(), x => Math.Min(Math.Max(x, 0), 6)),
        ("LeakyReLU", () => new LeakyReLU(0.2), x => x > 0 ? x : 0.2 * x),
        ("LeakyReLU default", () => new LeakyReLU(), x => x > 0 ? x : 0.01 * x),
        ("ELU", () => new ELU(0.7), x => x > 0 ? x : 0.7 * (Math.Exp(x) - 1)),
        ("SELU", () => new SELU(), x => 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (Math.Exp(x) - 1))),
        ("CELU", () => new CELU(1.5), x => Math.Max(x, 0) + 1.5 * (Math.Exp(Math.Min(x, 0) / 1.5) - 1)),
        ("Sigmoid", () => new Sigmoid(), x => 1 / (1 + Math.Exp(-x))),
        ("SiLU", () => new SiLU(), x => x / (1 + Math.Exp(-x))),
        ("LogSigmoid", () => new LogSigmoid(), x => -Softplus(-x)),
        ("Softplus", () => new Softplus(), Softplus),
        ("Softsign", () => new Softsign(), x => x / (1 + Math.Abs(x))),
        ("Mish", () => new Mish(), x => x * Math.Tanh(Softplus(x))),
        ("Tanh", () => new Tanh(), Math.Tanh),
        ("GELU", () => new GELU(), x => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)))),
        ("GELU precise", () => new GELU("precise"), x => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))),
        ("GELU tanh", () => new GELU("tanh"), x => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))),
        ("GELU fast", () => new GELU("fast"), x => x / (1 + Math.Exp(-1.702 * x))),
        ("Hardswish", () => new Hardswish(), x => x * Math.Min(Math.Max(x + 3, 0), 6) / 6),
        ("HardTanh", () => new HardTanh(), x => Math.Clamp(x, -1, 1)),
        ("HardShrink", () => new HardShrink(), x => Math.Abs(x) > 0.5 ? x : 0),
        ("Softshrink", () => new Softshrink(0.3), x => Math.Abs(x) > 0.3 ? x - Math.Sign(x) * 0.3 : 0),
        ("PReLU", () => new PReLU(), x => x > 0 ? x : 0.25 * x),
    }.Select(t => new object[] { t.Item1, t.Item2, t.Item3 });

    [Theory]
    [MemberData(nameof(Elementwise))]
    public void ElementwiseActivationMatchesItsFormula(string name, Func<Module> make, Func<double, double> f)
    {
        var y = make().Forward(Mx.Array(X));
        H.Close(X.Select(f).ToArray(), y, 2e-6, 2e-6, name);
    }

    [Fact]
    public void SoftmaxFamilyAndGluWorkOverTheLastAxis()
    {
        var x = H.Rand(2 * 4, 190);
        var input = L.A(x, 2, 4);
        var soft = new List<double>();
        var soft_min = new List<double>();
        var logsoft = new List<double>();
        for (int r = 0; r < 2; r++)
        {
            var row = x.Skip(4 * r).Take(4).ToArray();
            double s = row.Sum(Math.Exp), sm = row.Sum(v => Math.Exp(-v));
            soft.AddRange(row.Select(v => Math.Exp(v) / s));
            soft_min.AddRange(row.Select(v => Math.Exp(-v) / sm));
            logsoft.AddRange(row.Select(v => v - Math.Log(s)));
        }
        H.Close(soft, new Softmax().Forward(input), 1e-12, 1e-12);
        H.Close(soft_min, new Softmin().Forward(input), 1e-12, 1e-12);
        H.Close(logsoft, new LogSoftmax().Forward(input), 1e-12, 1e-12);
        var glu = new GLU().Forward(input);
        Assert.Equal(new[] { 2, 2 }, glu.Shape);
        H.Close(new[] { x[0] * L.Sigmoid(x[2]), x[1] * L.Sigmoid(x[3]), x[4] * L.Sigmoid(x[6]), x[5] * L.Sigmoid(x[7]) }, glu, 1e-12, 1e-12);
        Assert.Equal(new[] { 1, 4 }, new GLU(0).Forward(input).Shape);
    }

    [Fact]
    public void LogSoftmaxKeepsTheNormalizerForLargeInputs()
    {
        // max + log(2) rounds to max in float32; shifting by the max first keeps -log(2).
        var y = new LogSoftmax().Forward(Mx.Array(new float[] { 1e8f, 1e8f })).ToArray<float>();
        Assert.Equal(-Math.Log(2), y[0], 6);
        Assert.Equal(-Math.Log(2), y[1], 6);
        L.CheckGrad(x => Mx.Sum(Mx.Multiply(Mlx.Nn.Nn.LogSoftmax(x), Mx.Array(new double[] { 1, -2, 0.5 }))), new[] { 0.3, -1.0, 2.0 }, new[] { 3 });
    }

    [Fact]
    public void StepIsOneAtOrAboveTheThreshold()
    {
        var y = new Step(0.5).Forward(Mx.Array(new double[] { -1, 0.5, 0.49, 3 }));
        Assert.Equal(DType.Int32, y.DType);
        Assert.Equal(new[] { 0, 1, 0, 1 }, y.ToArray<int>());
    }

    [Fact]
    public void PReLUHasALearnableWeightPerChannel()
    {
        var p = new PReLU(3, 0.1);
        Assert.Equal(new[] { "weight" }, p.Parameters().Keys.ToArray());
        H.Close(new[] { 0.1, 0.1, 0.1 }, p.Parameters()["weight"], 1e-7, 0);
        L.Set(p, "weight", new[] { 0.5, 1.0, 2.0 }, 3);
        H.Close(new[] { -0.5, -1, -2, 1, 1, 1 }, p.Forward(Mx.Array(new double[] { -1, -1, -1, 1, 1, 1 }, new[] { 2, 3 })), 0, 0);
        var vg = Mlx.Nn.Nn.ValueAndGrad(p, a => Mx.Sum(p.Forward(a[0])));
        var (_, g) = vg(new[] { Mx.Array(new double[] { -1, 2, -3 }) });
        H.Close(new[] { -1.0, 0, -3 }, g["weight"], 0, 0);
        Assert.Throws<ArgumentException>(() => new GELU("erf"));
    }

    [Fact]
    public void ActivationsHaveNoParametersAndWorkInSequential()
    {
        var model = new Sequential(new Linear(3, 4), new ReLU(), new Linear(4, 2), new Tanh());
        Assert.Equal(4, model.Parameters().Count);
        Assert.Equal(new[] { 5, 2 }, model.Forward(Mx.Ones(new[] { 5, 3 })).Shape);
        Assert.Empty(new GELU().Parameters());
    }
}
