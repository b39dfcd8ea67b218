namespace Mlx.Core.Tests.Transforms;

/// <summary>Gradients checked against central finite differences in float64, and MLX's own cases.</summary>
public class GradTests
{
    private static double[] Numeric(Func<MxArray, MxArray> f, double[] x, int[] shape, double h = 1e-6)
    {
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            var xp = (double[])x.Clone();
            var xm = (double[])x.Clone();
            xp[i] += h;
            xm[i] -= h;
            double fp = f(Mx.Array(xp, shape)).Item<double>();
            double fm = f(Mx.Array(xm, shape)).Item<double>();
            g[i] = (fp - fm) / (2 * h);
        }
        return g;
    }

    private static void Check(Func<MxArray, MxArray> f, double[] x, int[] shape, double tol = 1e-5)
    {
        var analytic = Mx.Grad(f)(Mx.Array(x, shape)).ToArray<double>();
        var numeric = Numeric(f, x, shape);
        Assert.Equal(numeric.Length, analytic.Length);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.True(Math.Abs(numeric[i] - analytic[i]) <= tol * (1 + Math.Abs(numeric[i])), $"element {i}: numeric {numeric[i]} vs analytic {analytic[i]}");
        }
    }

    private static double[] RandomValues(int n, int seed, double lo = -2, double hi = 2)
    {
        var r = new System.Random(seed);
        return Enumerable.Range(0, n).Select(_ => lo + (hi - lo) * r.NextDouble()).ToArray();
    }

    [Fact]
    public void CumprodGradientMatchesMlx()
    {
        // MLX's test: grad of sum(cumprod(x)) at [2, 0, 2, 2, 3] is [1, 38, 0, 0, 0].
        var g = Mx.Grad(x => Mx.Sum(Mx.Cumprod(x)))(Mx.Array(new float[] { 2, 0, 2, 2, 3 }));
        Assert.Equal(new float[] { 1, 38, 0, 0, 0 }, g.ToArray<float>());
    }

    [Fact]
    public void ScanAndSortGradients()
    {
        // The nonlinear scans share one Jacobian with their JVPs; a weighted sum makes each output count differently.
        int[] shape = { 3, 5 };
        var w = Mx.Array(RandomValues(15, 40), shape);
        var x = RandomValues(15, 41, -1, 1);
        Check(a => Mx.Sum(Mx.Multiply(Mx.Cumprod(a, 1, reverse: true, inclusive: false), w)), x, shape);
        Check(a => Mx.Sum(Mx.Multiply(Mx.Cummax(Mx.Transpose(a), 0), Mx.Transpose(w))), x, shape);
        Check(a => Mx.Sum(Mx.Multiply(Mx.Cummin(a, 1, reverse: true), w)), x, shape);
        Check(a => Mx.Sum(Mx.Multiply(Mx.Logcumsumexp(a, 0), w)), x, shape);
        Check(a => Mx.Sum(Mx.Multiply(Mx.Sort(a, 1), w)), x, shape);
        Check(a => Mx.Sum(Mx.Multiply(Mx.Prod(a, 0, keepDims: true), w)), x, shape);
    }

    [Fact]
    public void PowerGradientAtOneOneMatchesMlx()
    {
        // MLX's test: d/dx (x - y) ** x at x = y = 1 is 1 (the log term vanishes where the base is 0).
        var f = Mx.Grad(args => Mx.Power(Mx.Subtract(args[0], args[1]), args[0]), new[] { 0 });
        var g = f(new[] { Mx.Array(1.0f), Mx.Array(1.0f) })[0];
        Assert.Equal(1f, g.Item<float>());
    }

    [Theory]
    [InlineData("exp")]
    [InlineData("log")]
    [InlineData("sin")]
    [InlineData("tanh")]
    [InlineData("sigmoid")]
    [InlineData("sqrt")]
    [InlineData("square")]
    [InlineData("erf")]
    [InlineData("arctan")]
    [InlineData("abs")]
    public void UnaryGradientsMatchFiniteDifferences(string name)
    {
        Func<MxArray, MxArray> op = name switch
        {
            "exp" => x => Mx.Exp(x),
            "log" => x => Mx.Log(x),
            "sin" => x => Mx.Sin(x),
            "tanh" => x => Mx.Tanh(x),
            "sigmoid" => x => Mx.Sigmoid(x),
            "sqrt" => x => Mx.Sqrt(x),
            "square" => x => Mx.Square(x),
            "erf" => x => Mx.Erf(x),
            "arctan" => x => Mx.Arctan(x),
            _ => x => Mx.Abs(x),
        };
        bool positive = name is "log" or "sqrt";
        var x = RandomValues(7, name.Length, positive ? 0.5 : -2, 2);
        Check(v => Mx.Sum(op(v)), x, new[] { 7 });
    }

    [Fact]
    public void BroadcastingBinaryGradients()
    {
        var y = Mx.Array(RandomValues(3, 5, 0.5, 2), new[] { 1, 3 });
        var x = RandomValues(6, 4, 0.5, 2);
        Check(v => Mx.Sum(Mx.Multiply(Mx.Divide(v, y), Mx.Add(v, y))), x, new[] { 2, 3 });
        Check(v => Mx.Sum(Mx.Power(v, y)), x, new[] { 2, 3 });
        Check(v => Mx.Sum(Mx.Maximum(v, Mx.Array(1.0))), x, new[] { 2, 3 });
    }

    [Fact]
    public void ReductionsOverSeveralAxes()
    {
        var x = RandomValues(24, 9);
        int[] shape = { 2, 3, 4 };
        Check(v => Mx.Sum(Mx.Square(Mx.Sum(v, new[] { 0, 2 }))), x, shape);
        Check(v => Mx.Sum(Mx.Max(v, new[] { 1, 2 })), x, shape);
        Check(v => Mx.Sum(Mx.Mean(v, new[] { 0, 1 })), x, shape);
        Check(v => Mx.Logsumexp(v), x, shape);
        Check(v => Mx.Sum(Mx.Multiply(Mx.Softmax(v, -1), Mx.Arange(4.0, DType.Float64))), x, shape);
    }

    [Fact]
    public void MaxSharesTheCotangentAmongTiesAndANaNWindowGivesNaN()
    {
        // As MLX's Reduce VJP: mask / count * g, so tied maxima split g equally; a row whose max is NaN matches
        // nothing (NaN != NaN), and 0 / 0 makes its gradient NaN.
        var x = Mx.Array(new[] { 1.0, 3, 3, 2, 2, 2, double.NaN, 1, 0 }, new[] { 3, 3 });
        var weights = Mx.Array(new[] { 1.0, 6, 2 });
        var grad = Mx.Grad(v => Mx.Sum(Mx.Multiply(Mx.Max(v, 1), weights)))(x).ToArray<double>();
        Assert.Equal(new[] { 0.0, 0.5, 0.5, 2, 2, 2 }, grad.Take(6));
        Assert.All(grad.Skip(6), v => Assert.True(double.IsNaN(v)));
        var gmin = Mx.Grad(v => Mx.Sum(Mx.Min(v, 0)))(Mx.Array(new[] { 1.0, 5, 1, 7 }, new[] { 2, 2 })).ToArray<double>();
        Assert.Equal(new[] { 0.5, 1, 0.5, 0 }, gmin);
    }

    [Fact]
    public void ViewsAndIndexing()
    {
        var x = RandomValues(12, 11);
        int[] shape = { 3, 4 };
        Check(v => Mx.Sum(Mx.Square(Mx.Transpose(v)[1..3, ..])), x, shape);
        Check(v => Mx.Sum(Mx.Exp(v[Idx.Slice(null, null, -1), 2])), x, shape);
        Check(v => Mx.Sum(Mx.Square(Mx.Take(v, Mx.Array(new[] { 0, 2, 2, -1 }), 1))), x, shape);
        Check(v => Mx.Sum(Mx.Square(Mx.Reshape(v, new[] { 2, 6 })[.., 1..4])), x, shape);
        Check(v => Mx.Sum(Mx.Square(Mx.Concatenate(new[] { v, Mx.Sin(v) }, 1))), x, shape);
        Check(v => Mx.Sum(Mx.Square(Mx.Where(Mx.Greater(v, Mx.Array(0.0)), v, Mx.Multiply(v, 3.0)))), x, shape);
    }

    [Fact]
    public void ScatterMaxAndMinGradients()
    {
        // Away from ties: the cotangent reaches whichever of a and the updates won each position.
        var w = Mx.Array(RandomValues(15, 50), new[] { 3, 5 });
        var x = RandomValues(15, 51);
        int[] shape = { 3, 5 };
        var idx = Mx.Array(new[] { 1, 3, 1 });
        Check(v => Mx.Sum(Mx.Multiply(Mx.ScatterMax(Mx.Sin(v), idx, Mx.Subtract(Mx.Square(v[.., 0..3]), 0.5), 1), w)), x, shape);
        Check(v => Mx.Sum(Mx.Multiply(Mx.ScatterMin(Mx.Transpose(v), idx, Mx.Multiply(Mx.Transpose(v)[1..4, ..], 0.7), 0), Mx.Transpose(w))), x, shape);
    }

    [Fact]
    public void ScatterMaxTiesFollowMlx()
    {
        // result = [max(1, 1, 0.5), 2, max(3, 5)] = [1, 2, 5]. MLX's rule: a gets g where a equals the result, each
        // update gets g at its index where it equals the result; the tie at 0 gives both a[0] and u[0] the full 10.
        var a = Mx.Array(new double[] { 1, 2, 3 });
        var u = Mx.Array(new double[] { 1, 0.5, 5 });
        var idx = Mx.Array(new[] { 0, 0, 2 });
        var g = Mx.Array(new double[] { 10, 20, 30 });
        var grads = Mx.Grad(args => Mx.Sum(Mx.Multiply(Mx.ScatterMax(args[0], idx, args[1], 0), g)), new[] { 0, 1 })(new[] { a, u });
        Assert.Equal(new double[] { 10, 20, 0 }, grads[0].ToArray<double>());
        Assert.Equal(new double[] { 10, 0, 30 }, grads[1].ToArray<double>());
        // The JVP is that VJP's transpose: the tie sums the tangents of a[0] and u[0].
        var (_, jvp) = Mx.Jvp(args => new[] { Mx.ScatterMax(args[0], idx, args[1], 0) }, new[] { a, u }, new[] { Mx.OnesLike(a), Mx.OnesLike(u) });
        Assert.Equal(new double[] { 2, 1, 1 }, jvp[0].ToArray<double>());
        Assert.Throws<NotSupportedException>(() => Mx.Grad(v => Mx.Sum(Mx.ScatterProd(v, idx, u, 0)))(a));
    }

    [Fact]
    public void MatmulGradients()
    {
        var w = Mx.Array(RandomValues(12, 2), new[] { 4, 3 });
        var x = RandomValues(8, 3);
        Check(v => Mx.Sum(Mx.Tanh(Mx.Matmul(v, w))), x, new[] { 2, 4 });
        Check(v => Mx.Sum(Mx.Square(Mx.Matmul(Mx.Transpose(w), Mx.Transpose(v)))), x, new[] { 2, 4 });
    }

    [Fact]
    public void SeveralArgnumsAndAuxiliaryOutputs()
    {
        var vg = Mx.ValueAndGrad(args => new[] { Mx.Sum(Mx.Multiply(args[0], args[1])), Mx.Multiply(args[0], 2.0) }, new[] { 0, 1 });
        var a = Mx.Array(new double[] { 1, 2, 3 });
        var b = Mx.Array(new double[] { 4, 5, 6 });
        var (values, grads) = vg(new[] { a, b });
        Assert.Equal(32.0, values[0].Item<double>());
        Assert.Equal(new double[] { 2, 4, 6 }, values[1].ToArray<double>());
        Assert.Equal(new double[] { 4, 5, 6 }, grads[0].ToArray<double>());
        Assert.Equal(new double[] { 1, 2, 3 }, grads[1].ToArray<double>());
    }

    [Fact]
    public void GradientsOverTreesOfArrays()
    {
        // loss = sum(w * x) + sum(b^2) + sum(layers[0] * layers[1]) with the parameters as a nested tree.
        var w = Mx.Array(new double[] { 1, 2, 3 });
        var b = Mx.Array(new double[] { 0.5, -1 });
        var l0 = Mx.Array(new double[] { 2, 4 });
        var l1 = Mx.Array(new double[] { -3, 5 });
        var x = Mx.Array(new double[] { 7, 8, 9 });
        var tree = new Dictionary<string, object> { ["w"] = w, ["b"] = b, ["layers"] = new List<object> { l0, l1 } };
        var (values, grads) = Mx.TreeValueAndGrad(args =>
        {
            var p = (IDictionary<string, object>)args[0];
            var layers = (IList<object>)p["layers"];
            var input = (MxArray)args[1];
            var loss = Mx.Add(Mx.Add(Mx.Sum(Mx.Multiply((MxArray)p["w"], input)), Mx.Sum(Mx.Square((MxArray)p["b"]))),
                Mx.Sum(Mx.Multiply((MxArray)layers[0], (MxArray)layers[1])));
            return new[] { loss, Mx.Multiply(loss, 2.0) };
        }, new[] { 0, 1 })(new object[] { tree, x });
        Assert.Equal(50 + 1.25 + 14, values[0].Item<double>(), 12);
        Assert.Equal(2 * (50 + 1.25 + 14), values[1].Item<double>(), 12);
        var g = (Dictionary<string, object>)grads[0];
        Assert.Equal(new double[] { 7, 8, 9 }, ((MxArray)g["w"]).ToArray<double>());
        Assert.Equal(new double[] { 1, -2 }, ((MxArray)g["b"]).ToArray<double>());
        var gl = (List<object>)g["layers"];
        Assert.Equal(new double[] { -3, 5 }, ((MxArray)gl[0]).ToArray<double>());
        Assert.Equal(new double[] { 2, 4 }, ((MxArray)gl[1]).ToArray<double>());
        Assert.Equal(new double[] { 1, 2, 3 }, ((MxArray)grads[1]).ToArray<double>());
        var onlyX = Mx.TreeGrad(args => Mx.Sum(Mx.Multiply((MxArray)((IDictionary<string, object>)args[0])["w"], (MxArray)args[1])), new[] { 1 })(new object[] { tree, x });
        Assert.Equal(new double[] { 1, 2, 3 }, ((MxArray)onlyX[0]).ToArray<double>());
    }

    [Fact]
    public void StopGradientBlocksTheFlow()
    {
        var g = Mx.Grad(x => Mx.Sum(Mx.Multiply(x, Mx.StopGradient(x))))(Mx.Array(new double[] { 1, 2 }));
        Assert.Equal(new double[] { 1, 2 }, g.ToArray<double>());
    }

    [Fact]
    public void JvpMatchesDirectionalDerivative()
    {
        var x = Mx.Array(new double[] { 0.3, -1.2, 2.0 });
        var t = Mx.Array(new double[] { 1.0, 0.5, -2.0 });
        var (outs, jvps) = Mx.Jvp(a => new[] { Mx.Multiply(Mx.Sin(a[0]), Mx.Exp(a[0])) }, new[] { x }, new[] { t });
        var xv = x.ToArray<double>();
        var tv = t.ToArray<double>();
        var expected = xv.Select((v, i) => (Math.Cos(v) * Math.Exp(v) + Math.Sin(v) * Math.Exp(v)) * tv[i]).ToArray();
        var got = jvps[0].ToArray<double>();
        for (int i = 0; i < 3; i++) Assert.Equal(expected[i], got[i], 1e-12);
        var o = outs[0].ToArray<double>();
        for (int i = 0; i < 3; i++) Assert.Equal(Math.Sin(xv[i]) * Math.Exp(xv[i]), o[i], 1e-12);
    }

    [Fact]
    public void VmapEqualsALoop()
    {
        var x = Mx.Array(RandomValues(12, 21), new[] { 3, 4 });
        var w = Mx.Array(RandomValues(4, 22), new[] { 4 });
        var f = Mx.Vmap(args => new[] { Mx.Sum(Mx.Multiply(args[0], args[1])) }, new int?[] { 0, null });
        var batched = f(new[] { x, w })[0].ToArray<double>();
        var xs = x.ToArray<double>();
        var ws = w.ToArray<double>();
        for (int b = 0; b < 3; b++)
        {
            double s = 0;
            for (int j = 0; j < 4; j++) s += xs[b * 4 + j] * ws[j];
            Assert.Equal(s, batched[b], 1e-12);
        }
    }

    [Fact]
    public void CustomFunctionUsesTheUserVjp()
    {
        var f = Mx.CustomFunction(a => new[] { Mx.Exp(a[0]) }, (primals, cots, outs) => new[] { Mx.Multiply(cots[0], 7.0) });
        var g = Mx.Grad(args => Mx.Sum(f(args)[0]), new[] { 0 })(new[] { Mx.Array(new double[] { 0, 1 }) })[0];
        Assert.Equal(new double[] { 7, 7 }, g.ToArray<double>());
    }

    [Fact]
    public void CustomFunctionUsesTheUserJvpAndVmap()
    {
        int vmapCalls = 0;
        var f = Mx.CustomFunction(
            a => new[] { Mx.Sin(a[0]) },
            (primals, cots, outs) => new[] { Mx.Multiply(cots[0], Mx.Cos(primals[0])) },
            jvp: (primals, tangents) => new[] { Mx.Multiply(tangents[0], 3.0) },
            vmap: (inputs, axes) =>
            {
                vmapCalls++;
                // The rule may return its batch on another axis: here it moves it last.
                return (new[] { Mx.MoveAxis(Mx.Sin(inputs[0]), axes[0]!.Value, -1) }, new[] { -1 + inputs[0].NDim });
            });
        var x = Mx.Array(new double[] { 0.5, 1, 2 });
        var (outputs, jvps) = Mx.Jvp(f, new[] { x }, new[] { Mx.Array(new double[] { 1, 2, 3 }) });
        H.Close(new[] { Math.Sin(0.5), Math.Sin(1), Math.Sin(2) }, outputs[0], 1e-14, 0, "forward");
        Assert.Equal(new double[] { 3, 6, 9 }, jvps[0].ToArray<double>());

        var batch = Mx.Array(new double[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6 }, new[] { 2, 3 });
        long fallbacks = Mx.VmapLoopFallbacks;
        var mapped = Mx.Vmap(f, new int?[] { 1 }, new[] { 0 })(new[] { batch })[0];
        Assert.Equal(fallbacks, Mx.VmapLoopFallbacks);
        Assert.Equal(1, vmapCalls);
        Assert.Equal(new[] { 3, 2 }, mapped.Shape);
        var b = batch.ToArray<double>();
        H.Close(new[] { 0, 3, 1, 4, 2, 5 }.Select(i => Math.Sin(b[i])).ToArray(), mapped, 1e-14, 0, "vmapped");

        // Without a JVP rule, the forward function's own JVP is used.
        var g = Mx.CustomFunction(a => new[] { Mx.Exp(a[0]) }, (p, c, o) => c);
        H.Close(new[] { Math.Exp(0.5) * 2 }, Mx.Jvp(g, new[] { Mx.Array(new[] { 0.5 }) }, new[] { Mx.Array(new[] { 2.0 }) }).Jvps[0], 1e-14, 0, "default jvp");
    }
}
