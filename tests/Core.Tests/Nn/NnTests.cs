using Mlx.Nn;
using Mlx.Optimizers;

namespace Mlx.Core.Tests.Nn;

public class ModuleTests
{
    [Fact]
    public void SequentialNamesParametersAsMlx()
    {
        var model = new Sequential(new Linear(4, 3), (Func<MxArray, MxArray>)Mlx.Nn.Nn.Relu, new Linear(3, 2, bias: false));
        Assert.Equal(new[] { "layers.0.weight", "layers.0.bias", "layers.2.weight" }, model.Parameters().Keys.ToArray());
        Assert.Equal(new[] { 3, 4 }, model.Parameters()["layers.0.weight"].Shape);
    }

    [Fact]
    public void LinearComputesXWTransposePlusB()
    {
        var layer = new Linear(3, 2);
        layer.Update(new Dictionary<string, MxArray>
        {
            ["weight"] = Mx.Array(new float[] { 1, 2, 3, 4, 5, 6 }, new[] { 2, 3 }),
            ["bias"] = Mx.Array(new float[] { 0.5f, -1 }),
        });
        var y = layer.Forward(Mx.Array(new float[] { 1, 0, -1, 2, 1, 0 }, new[] { 2, 3 }));
        // [1,0,-1]·[1,2,3] = -2, ·[4,5,6] = -2; [2,1,0]·... = 4, 13
        Assert.Equal(new float[] { -1.5f, -3, 4.5f, 12 }, y.ToArray<float>());
    }

    [Fact]
    public void FreezeRemovesFromTrainable()
    {
        var model = new Sequential(new Linear(2, 2), new Linear(2, 1));
        model.Layers[0].Freeze();
        Assert.Equal(new[] { "layers.1.weight", "layers.1.bias" }, model.TrainableParameters().Keys.ToArray());
        model.Unfreeze();
        Assert.Equal(4, model.TrainableParameters().Count);
    }

    [Theory]
    [InlineData(".safetensors")]
    [InlineData(".npz")]
    public void WeightsRoundTripAndStrictLoadingNamesProblems(string ext)
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            string path = Path.Combine(dir.FullName, "w" + ext);
            var a = new Sequential(new Linear(3, 4), new Linear(4, 2));
            a.SaveWeights(path);
            var b = new Sequential(new Linear(3, 4), new Linear(4, 2));
            b.LoadWeights(path);
            foreach (var (k, v) in a.Parameters())
            {
                Assert.Equal(v.ToArray<float>(), b.Parameters()[k].ToArray<float>());
            }
            var wrong = new Sequential(new Linear(3, 5), new Linear(5, 2), new Linear(2, 2));
            var e = Assert.Throws<ArgumentException>(() => wrong.LoadWeights(path));
            Assert.Contains("missing: layers.2.weight", e.Message);
            Assert.Contains("wrong shape: layers.0.weight (4, 3) instead of (5, 3)", e.Message);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void TreeFlattenAndUnflattenAreInverse()
    {
        var tree = Tree.Unflatten(new[] { ("layers.0.weight", Mx.Array(1f)), ("layers.1.weight", Mx.Array(2f)), ("head.bias", Mx.Array(3f)) });
        var flat = Tree.Flatten(tree);
        Assert.Equal(new[] { "layers.0.weight", "layers.1.weight", "head.bias" }, flat.Select(f => f.Name).ToArray());
        Assert.IsType<List<object>>(((Dictionary<string, object>)tree)["layers"]);
    }
}

public class LossTests
{
    [Fact]
    public void CrossEntropyMatchesTheFormula()
    {
        var logits = new float[] { 2, 1, 0.1f, 0.5f, 2.5f, 0.3f };
        var targets = new[] { 0, 2 };
        var loss = Mlx.Nn.Nn.CrossEntropy(Mx.Array(logits, new[] { 2, 3 }), Mx.Array(targets)).ToArray<float>();
        for (int r = 0; r < 2; r++)
        {
            double lse = Math.Log(Enumerable.Range(0, 3).Sum(c => Math.Exp(logits[r * 3 + c])));
            Assert.Equal(lse - logits[r * 3 + targets[r]], loss[r], 5);
        }
    }

    [Fact]
    public void MseL1AndBinaryCrossEntropy()
    {
        var p = Mx.Array(new float[] { 1, 2, 3 });
        var t = Mx.Array(new float[] { 1, 0, 5 });
        Assert.Equal((0 + 4 + 4) / 3f, Mlx.Nn.Nn.MseLoss(p, t).Item<float>(), 5);
        Assert.Equal((0 + 2 + 2) / 3f, Mlx.Nn.Nn.L1Loss(p, t).Item<float>(), 5);
        Assert.Equal(8f, Mlx.Nn.Nn.MseLoss(p, t, "sum").Item<float>(), 5);
        var logit = Mx.Array(new float[] { 0.5f, -1 });
        var y = Mx.Array(new float[] { 1, 0 });
        double expected = (Math.Log(1 + Math.Exp(-0.5)) + Math.Log(1 + Math.Exp(-1))) / 2;
        Assert.Equal(expected, Mlx.Nn.Nn.BinaryCrossEntropy(logit, y).Item<float>(), 5);
    }
}

public class OptimizerTests
{
    private static (Linear Layer, Dictionary<string, MxArray> Grads) Setup()
    {
        var layer = new Linear(2, 1, bias: false);
        layer.Update(new Dictionary<string, MxArray> { ["weight"] = Mx.Array(new double[] { 1, -2 }, new[] { 1, 2 }) });
        return (layer, new Dictionary<string, MxArray> { ["weight"] = Mx.Array(new double[] { 0.5, -1 }, new[] { 1, 2 }) });
    }

    private static double[] W(Module m) => m.Parameters()["weight"].ToArray<double>();

    [Fact]
    public void SgdWithMomentumAndNesterovFollowsTheFormula()
    {
        var (layer, g) = Setup();
        var opt = new SGD(0.1, momentum: 0.9, nesterov: true);
        double[] w = { 1, -2 }, gv = { 0.5, -1 }, v = { 0, 0 };
        for (int step = 0; step < 3; step++)
        {
            opt.Update(layer, g);
            for (int i = 0; i < 2; i++)
            {
                v[i] = 0.9 * v[i] + gv[i];
                w[i] -= 0.1 * (gv[i] + 0.9 * v[i]);
            }
        }
        var got = W(layer);
        for (int i = 0; i < 2; i++) Assert.Equal(w[i], got[i], 12);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AdamFollowsTheFormula(bool biasCorrection)
    {
        var (layer, g) = Setup();
        var opt = new Adam(0.01, biasCorrection: biasCorrection);
        double[] w = { 1, -2 }, gv = { 0.5, -1 }, m = { 0, 0 }, v = { 0, 0 };
        for (int t = 1; t <= 3; t++)
        {
            opt.Update(layer, g);
            for (int i = 0; i < 2; i++)
            {
                m[i] = 0.9 * m[i] + 0.1 * gv[i];
                v[i] = 0.999 * v[i] + 0.001 * gv[i] * gv[i];
                double mh = biasCorrection ? m[i] / (1 - Math.Pow(0.9, t)) : m[i];
                double vh = biasCorrection ? v[i] / (1 - Math.Pow(0.999, t)) : v[i];
                w[i] -= 0.01 * mh / (Math.Sqrt(vh) + 1e-8);
            }
        }
        var got = W(layer);
        for (int i = 0; i < 2; i++) Assert.Equal(w[i], got[i], 10);
    }

    [Fact]
    public void AdamWRmspropAdagradLion()
    {
        double[] gv = { 0.5, -1 };
        {
            var (layer, g) = Setup();
            new AdamW(0.01, weightDecay: 0.1).Update(layer, g);
            double[] w = { 1, -2 };
            for (int i = 0; i < 2; i++)
            {
                double m = 0.1 * gv[i], v = 0.001 * gv[i] * gv[i];
                w[i] = w[i] * (1 - 0.01 * 0.1) - 0.01 * m / (Math.Sqrt(v) + 1e-8);
            }
            Assert.Equal(w, W(layer).Select(x => Math.Round(x, 12)).ToArray(), new Tol());
        }
        {
            var (layer, g) = Setup();
            new RMSprop(0.01).Update(layer, g);
            var expected = new double[] { 1 - 0.01 * 0.5 / (Math.Sqrt(0.01 * 0.25) + 1e-8), -2 + 0.01 * 1 / (Math.Sqrt(0.01) + 1e-8) };
            Assert.Equal(expected, W(layer), new Tol());
        }
        {
            var (layer, g) = Setup();
            var opt = new Adagrad(0.1);
            opt.Update(layer, g);
            opt.Update(layer, g);
            double w0 = 1 - 0.1 * 0.5 / (0.5 + 1e-8);
            w0 -= 0.1 * 0.5 / (Math.Sqrt(0.5) + 1e-8);
            Assert.Equal(w0, W(layer)[0], 10);
        }
        {
            var (layer, g) = Setup();
            new Lion(0.1).Update(layer, g);
            Assert.Equal(new double[] { 0.9, -1.9 }, W(layer), new Tol());
        }
    }

    [Fact]
    public void SchedulesAndClipGradNorm()
    {
        Assert.Equal(0.1 * 0.5 * 0.5, Schedules.ExponentialDecay(0.1, 0.5)(2), 12);
        Assert.Equal(0.1 * 0.5, Schedules.StepDecay(0.1, 0.5, 10)(15), 12);
        Assert.Equal(0.0, Schedules.CosineDecay(1.0, 10)(10), 12);
        Assert.Equal(0.5, Schedules.CosineDecay(1.0, 10)(5), 12);
        Assert.Equal(0.5, Schedules.LinearSchedule(0, 1, 10)(5), 12);
        var joined = Schedules.JoinSchedules(new[] { Schedules.LinearSchedule(0, 1, 4), Schedules.ExponentialDecay(1, 0.5) }, new[] { 4 });
        Assert.Equal(0.5, joined(2), 12);
        Assert.Equal(0.5, joined(5), 12);
        var (clipped, norm) = Clip.ClipGradNorm(new Dictionary<string, MxArray> { ["a"] = Mx.Array(new float[] { 3, 4 }) }, 1.0);
        Assert.Equal(5f, norm.Item<float>(), 5);
        Assert.Equal(new[] { 0.6f, 0.8f }, clipped["a"].ToArray<float>().Select(v => MathF.Round(v, 5)).ToArray());
    }

    private sealed class Tol : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) < 1e-9;
        public int GetHashCode(double x) => 0;
    }
}

public class ConvolutionTests
{
    // Direct loop reference for NHWC conv with (C_out, KH, KW, C_in) weights.
    private static double[] Reference(double[] x, int n, int h, int w, int cin, double[] k, int cout, int kh, int kw, int stride, int pad, int dil, out int oh, out int ow)
    {
        oh = (h + 2 * pad - dil * (kh - 1) - 1) / stride + 1;
        ow = (w + 2 * pad - dil * (kw - 1) - 1) / stride + 1;
        var y = new double[n * oh * ow * cout];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                    for (int o = 0; o < cout; o++)
                    {
                        double s = 0;
                        for (int a = 0; a < kh; a++)
                            for (int c = 0; c < kw; c++)
                            {
                                int yi = i * stride - pad + a * dil, xj = j * stride - pad + c * dil;
                                if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
                                for (int ci = 0; ci < cin; ci++)
                                    s += x[((b * h + yi) * w + xj) * cin + ci] * k[((o * kh + a) * kw + c) * cin + ci];
                            }
                        y[((b * oh + i) * ow + j) * cout + o] = s;
                    }
        return y;
    }

    private static double[] Rand(int n, int seed)
    {
        var r = new System.Random(seed);
        return Enumerable.Range(0, n).Select(_ => r.NextDouble() * 2 - 1).ToArray();
    }

    [Theory]
    [InlineData(1, 1, 0, 1)]
    [InlineData(2, 1, 1, 1)]
    [InlineData(1, 2, 1, 1)]
    [InlineData(3, 1, 2, 2)]
    public void Conv2dMatchesADirectLoop(int n, int stride, int pad, int dil)
    {
        int h = 7, w = 6, cin = 3, cout = 5, kh = 3, kw = 2;
        var x = Rand(n * h * w * cin, 1);
        var k = Rand(cout * kh * kw * cin, 2);
        var expected = Reference(x, n, h, w, cin, k, cout, kh, kw, stride, pad, dil, out int oh, out int ow);
        var y = Mx.Conv2d(Mx.Array(x, new[] { n, h, w, cin }), Mx.Array(k, new[] { cout, kh, kw, cin }), (stride, stride), (pad, pad), (dil, dil));
        Assert.Equal(new[] { n, oh, ow, cout }, y.Shape);
        var got = y.ToArray<double>();
        for (int i = 0; i < got.Length; i++) Assert.Equal(expected[i], got[i], 10);
    }

    [Fact]
    public void GroupedConvEqualsPerGroupConvs()
    {
        var x = Mx.Array(Rand(1 * 5 * 5 * 4, 3), new[] { 1, 5, 5, 4 });
        var k = Mx.Array(Rand(6 * 3 * 3 * 2, 4), new[] { 6, 3, 3, 2 });
        var y = Mx.Conv2d(x, k, 1, 1, 1, groups: 2).ToArray<double>();
        var y0 = Mx.Conv2d(x[.., .., .., 0..2], k[0..3], 1, 1).ToArray<double>();
        var y1 = Mx.Conv2d(x[.., .., .., 2..4], k[3..6], 1, 1).ToArray<double>();
        for (int p = 0; p < 25; p++)
        {
            for (int o = 0; o < 3; o++)
            {
                Assert.Equal(y0[p * 3 + o], y[p * 6 + o], 10);
                Assert.Equal(y1[p * 3 + o], y[p * 6 + 3 + o], 10);
            }
        }
    }

    [Fact]
    public void ConvGradientsMatchFiniteDifferences()
    {
        var xv = Rand(2 * 5 * 4 * 2, 5);
        var kv = Rand(3 * 3 * 2 * 2, 6);
        var k = Mx.Array(kv, new[] { 3, 3, 2, 2 });
        var x = Mx.Array(xv, new[] { 2, 5, 4, 2 });
        MxArray F(MxArray a, MxArray b) => Mx.Sum(Mx.Square(Mx.Conv2d(a, b, (2, 1), (1, 1))));
        var grads = Mx.Grad(args => F(args[0], args[1]), new[] { 0, 1 })(new[] { x, k });
        foreach (var (arg, values, shape, grad) in new[] { (0, xv, x.Shape, grads[0]), (1, kv, k.Shape, grads[1]) })
        {
            var g = grad.ToArray<double>();
            for (int i = 0; i < values.Length; i += 3)
            {
                var plus = (double[])values.Clone();
                var minus = (double[])values.Clone();
                plus[i] += 1e-6;
                minus[i] -= 1e-6;
                double fp = arg == 0 ? F(Mx.Array(plus, shape), k).Item<double>() : F(x, Mx.Array(plus, shape)).Item<double>();
                double fm = arg == 0 ? F(Mx.Array(minus, shape), k).Item<double>() : F(x, Mx.Array(minus, shape)).Item<double>();
                Assert.Equal((fp - fm) / 2e-6, g[i], 5);
            }
        }
    }

    [Fact]
    public void ConvTransposeIsTheAdjointOfConv()
    {
        // <conv(x, k), y> == <x, conv_transpose(y, k')> where k' swaps C_in and C_out.
        var x = Mx.Array(Rand(1 * 6 * 6 * 2, 7), new[] { 1, 6, 6, 2 });
        var k = Mx.Array(Rand(3 * 3 * 3 * 2, 8), new[] { 3, 3, 3, 2 });
        var y = Mx.Array(Rand(1 * 3 * 3 * 3, 9), new[] { 1, 3, 3, 3 });
        var conv = Mx.Conv2d(x, k, 2, 1);
        Assert.Equal(new[] { 1, 3, 3, 3 }, conv.Shape);
        var kt = Mx.Transpose(k, new[] { 3, 1, 2, 0 });
        var back = Mx.ConvTranspose2d(y, kt, stride: 2, padding: 1, outputPadding: 1);
        Assert.Equal(new[] { 1, 6, 6, 2 }, back.Shape);
        double lhs = Mx.Sum(Mx.Multiply(conv, y)).Item<double>();
        double rhs = Mx.Sum(Mx.Multiply(x, back)).Item<double>();
        Assert.Equal(lhs, rhs, 10);
    }

    [Fact]
    public void MaxAndAvgPool()
    {
        var x = Mx.Array(Enumerable.Range(0, 16).Select(v => (float)v).ToArray(), new[] { 1, 4, 4, 1 });
        Assert.Equal(new float[] { 5, 7, 13, 15 }, new MaxPool2d(2).Forward(x).ToArray<float>());
        Assert.Equal(new float[] { 2.5f, 4.5f, 10.5f, 12.5f }, new AvgPool2d(2).Forward(x).ToArray<float>());
        // Overlapping windows (stride 1) take the general path.
        Assert.Equal(new float[] { 5, 6, 7, 9, 10, 11, 13, 14, 15 }, new MaxPool2d(2, 1).Forward(x).ToArray<float>());
    }
}

public class MnistTrainingTests
{
    private static string DataPath()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlx.Managed.sln"))) dir = dir.Parent;
        return Path.Combine(dir!.FullName, "data", "mnist", "mnist.npz");
    }

    [Fact]
    public void OneEpochOfTheMlpLowersTheLossAndPasses80Percent()
    {
        var data = Mx.Load(DataPath());
        var images = Mx.Divide(Mx.AsType(Mx.Reshape(data["images"], new[] { -1, 784 }), DType.Float32), 255.0);
        var labels = Mx.AsType(data["labels"], DType.Int32);
        // The file is sorted by label: a fixed permutation, then 8,000 to train and 2,000 to test.
        var perm = Mx.Random.Permutation(10000, Mx.Random.Key(1));
        images = Mx.Take(images, perm, 0);
        labels = Mx.Take(labels, perm, 0);
        Mx.Eval(images, labels);
        Mx.Random.Seed(0);
        var model = new Sequential(new Linear(784, 32), (Func<MxArray, MxArray>)Mlx.Nn.Nn.Relu, new Linear(32, 32),
            (Func<MxArray, MxArray>)Mlx.Nn.Nn.Relu, new Linear(32, 10));
        var opt = new SGD(0.1);
        var step = Mlx.Nn.Nn.ValueAndGrad(model, a => Mlx.Nn.Nn.CrossEntropy(model.Forward(a[0]), a[1], reduction: "mean"));
        var losses = new List<float>();
        for (int start = 0; start < 8000; start += 32)
        {
            int end = Math.Min(8000, start + 32);
            var (loss, grads) = step(new[] { images[start..end], labels[start..end] });
            opt.Update(model, grads);
            Mx.Eval(model.Parameters().Values.Append(loss));
            losses.Add(loss.Item<float>());
        }
        Assert.True(losses[^1] < losses[0] / 2, $"loss {losses[0]} -> {losses[^1]}");
        var predicted = Mx.ArgMax(model.Forward(images[8000..]), -1);
        double accuracy = Mx.Mean(Mx.Equal(Mx.AsType(predicted, DType.Int32), labels[8000..])).Item<float>();
        Assert.True(accuracy > 0.8, $"accuracy {accuracy}");
    }
}
