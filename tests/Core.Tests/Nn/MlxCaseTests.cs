using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

/// <summary>Cases with the expected values of MLX's own python/tests/test_nn.py.</summary>
public class MlxCaseTests
{
    private static MxArray Nchw(double[] v, int b, int c, int h, int w) => Mx.Transpose(Mx.Array(v, new[] { b, c, h, w }), new[] { 0, 2, 3, 1 });

    private static double[] Seq(int n, int start = 0) => Enumerable.Range(start, n).Select(i => (double)i).ToArray();

    [Fact]
    public void GeluMatchesJax()
    {
        var x = Mx.Array(new float[] { 1.15286231f, -0.81037411f, 0.35816911f, 0.77484438f, 0.66276414f });
        H.Close(new[] { 1.0093501, -0.16925684, 0.22918941, 0.60498625, 0.49459383 }, new GELU().Forward(x), 1e-5, 1e-8);
        var approx = new[] { 1.0091482, -0.1693441, 0.22918446, 0.60491, 0.4945476 };
        H.Close(approx, new GELU("precise").Forward(x), 1e-5, 1e-8);
        H.Close(approx, new GELU("tanh").Forward(x), 1e-5, 1e-8);
        var grid = Mx.Arange(-6.0, 6.0, 0.12);
        Assert.True(Mx.Max(Mx.Abs(Mx.Subtract(Mlx.Nn.Nn.Gelu(grid), Mlx.Nn.Nn.GeluApprox(grid)))).Item<float>() < 0.0005);
        Assert.True(Mx.Max(Mx.Abs(Mx.Subtract(Mlx.Nn.Nn.Gelu(grid), Mlx.Nn.Nn.GeluFastApprox(grid)))).Item<float>() < 0.025);
    }

    [Fact]
    public void StepIncludesTheBoundary()
    {
        var x = Mx.Array(new float[] { -1, 0, 1 });
        Assert.Equal(new[] { 0, 1, 1 }, Mlx.Nn.Nn.Step(x).ToArray<int>());
        Assert.Equal(new[] { 0, 0, 1 }, new Step(1.0).Forward(x).ToArray<int>());
    }

    [Fact]
    public void InstanceNorm1d()
    {
        var x = Mx.Array(new float[]
        {
            -0.0119524f, 1.1263f, 2.02223f, -0.500331f, 0.517899f, -1.21143f, 1.12958f, -0.21413f, -2.48738f, 1.39955f, 0.891329f, 1.63289f,
            0.241417f, -0.619157f, -0.77484f, -1.42512f, 0.970817f, -1.31352f, 2.739f, -1.2506f, 1.56844f, -1.23175f, 0.32756f, 1.13969f,
        }, new[] { 2, 4, 3 });
        var expected = new[]
        {
            -0.657082, 1.07593, 1.0712, -1.27879, -0.123074, -0.632505, 0.796101, -1.56572, -1.30476, 1.13978, 0.612862, 0.866067,
            0.0964426, -0.557906, -0.759885, -0.904772, 1.30444, -1.20013, 1.59693, -1.29752, 1.15521, -0.7886, 0.550987, 0.804807,
        };
        H.Close(expected, new InstanceNorm(3).Forward(x), 0, 1e-5);
    }

    [Fact]
    public void UpsampleTwoByTwo()
    {
        var x0 = Nchw(Seq(4), 1, 1, 2, 2);
        H.Close(new double[] { 0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3 }, new Upsample(2, "nearest", alignCorners: true).Forward(x0), 0, 0);
        H.Close(new[] { 0, 0.333333, 0.666667, 1, 0.666667, 1, 1.33333, 1.66667, 1.33333, 1.66667, 2, 2.33333, 2, 2.33333, 2.66667, 3 },
            new Upsample(2, "linear", alignCorners: true).Forward(x0), 0, 1e-5);
        var x1 = Nchw(Seq(4, 1), 1, 1, 2, 2);
        H.Close(new[] { 1.0, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4 },
            new Upsample(2, "linear", alignCorners: false).Forward(x1), 0, 1e-6);
        H.Close(new double[] { 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 }, new Upsample(2, "nearest").Forward(x1), 0, 0);
    }

    [Fact]
    public void UpsampleBatchAndPerAxisScales()
    {
        var x = Nchw(Seq(36), 2, 2, 3, 3);
        var bil = Mx.Transpose(new Upsample(2, "linear", alignCorners: true).Forward(x), new[] { 0, 3, 1, 2 }).ToArray<double>();
        // Channel planes of MLX's expected values: start + 0.4 * column + 1.2 * row.
        for (int p = 0; p < 4; p++)
        for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            Assert.Equal(9 * p + 1.2 * i + 0.4 * j, bil[(p * 6 + i) * 6 + j], 5);
        var near = Mx.Transpose(new Upsample(2, "nearest", alignCorners: true).Forward(x), new[] { 0, 3, 1, 2 }).ToArray<double>();
        for (int p = 0; p < 4; p++)
        for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            Assert.Equal(9 * p + 3 * (i / 2) + j / 2, near[(p * 6 + i) * 6 + j]);

        var x2 = Nchw(Seq(8), 1, 2, 2, 2);
        var n2 = Mx.Transpose(new Upsample(new[] { 2.0, 3.0 }, "nearest", alignCorners: true).Forward(x2), new[] { 0, 3, 1, 2 });
        H.Close(new double[]
        {
            0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 2, 2, 2, 3, 3, 3,
            4, 4, 4, 5, 5, 5, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 6, 6, 6, 7, 7, 7,
        }, n2, 0, 0);
        var b2 = Mx.Transpose(new Upsample(new[] { 2.0, 3.0 }, "linear", alignCorners: true).Forward(x2), new[] { 0, 3, 1, 2 });
        H.Close(new[]
        {
            0, 0.2, 0.4, 0.6, 0.8, 1, 0.666667, 0.866667, 1.06667, 1.26667, 1.46667, 1.66667,
            1.33333, 1.53333, 1.73333, 1.93333, 2.13333, 2.33333, 2, 2.2, 2.4, 2.6, 2.8, 3,
            4, 4.2, 4.4, 4.6, 4.8, 5, 4.66667, 4.86667, 5.06667, 5.26667, 5.46667, 5.66667,
            5.33333, 5.53333, 5.73333, 5.93333, 6.13333, 6.33333, 6, 6.2, 6.4, 6.6, 6.8, 7,
        }, b2, 0, 1e-5);
    }

    [Fact]
    public void BatchNormWithMlxSeed42()
    {
        // mx.random.seed(42) then normal(): the global key's first split gives the second half. An explicit key keeps
        // this test independent of other tests drawing from the global key in parallel.
        var key = Mx.Squeeze(Mx.Slice(Mx.Random.Split(Mx.Random.Key(42)), new[] { 1, 0 }, new[] { 2, 2 }), 0);
        var x = Mx.Random.Normal(new[] { 5, 4 }, key: key);
        var bn = new BatchNorm(4);
        var y = bn.Forward(x);
        H.Close(new[]
        {
            -0.439520, 1.647328, -0.955515, 1.966031, -1.726690, -1.449826, -0.234026, -0.723364, 0.938414, -0.349603, -0.354470, -0.175369,
            0.305006, 0.234914, -0.393017, -0.459385, 0.922789, -0.082813, 1.937028, -0.607913,
        }, y, 0, 1e-5);
        H.Close(new[] { 0.008929, 0.005680, -0.016092, 0.027778 }, bn.Parameters()["running_mean"], 0, 1e-5);
        H.Close(new[] { 0.935544, 1.030691, 1.076463, 0.953224 }, bn.Parameters()["running_var"], 0, 1e-5);
        bn.Eval();
        H.Close(new[]
        {
            -0.159232, 1.70949, -1.23382, 1.57007, -0.868873, -1.40987, -0.407588, -0.227397, 0.600449, -0.301759, -0.545518, 0.138857,
            0.251239, 0.286951, -0.589661, -0.0509662, 0.591834, -0.0330556, 2.07865, -0.150235,
        }, bn.Forward(x), 0, 1e-5);
    }

    [Fact]
    public void Pooling3d()
    {
        var x = Mx.Array(Seq(54), new[] { 1, 2, 3, 3, 3 });
        H.Close(new double[] { 39, 40, 41, 42, 43, 44, 48, 49, 50, 51, 52, 53 }, new MaxPool3d(2, stride: 1).Forward(x), 0, 0);
        H.Close(new double[] { 39, 40, 41 }, new MaxPool3d(2, stride: 2).Forward(x), 0, 0);
        H.Close(new double[] { 0, 1, 2, 6, 7, 8, 18, 19, 20, 24, 25, 26, 27, 28, 29, 33, 34, 35, 45, 46, 47, 51, 52, 53 },
            new MaxPool3d(2, stride: 2, padding: 1).Forward(x), 0, 0);
        H.Close(new double[] { 9, 10, 11, 12, 13, 14, 15, 16, 17, 36, 37, 38, 39, 40, 41, 42, 43, 44 },
            new MaxPool3d((1, 2, 1), (1, 2, 1)).Forward(x), 0, 0);

        H.Close(new[] { 19.5, 20.5, 21.5, 22.5, 23.5, 24.5, 28.5, 29.5, 30.5, 31.5, 32.5, 33.5 }, new AvgPool3d(2, stride: 1).Forward(x), 0, 0);
        H.Close(new[] { 19.5, 20.5, 21.5 }, new AvgPool3d(2, stride: 2).Forward(x), 0, 0);
        H.Close(new[]
        {
            0, 0.125, 0.25, 1.125, 1.375, 1.625, 3.375, 3.625, 3.875, 9, 9.5, 10,
            3.375, 3.5, 3.625, 7.875, 8.125, 8.375, 10.125, 10.375, 10.625, 22.5, 23, 23.5,
        }, new AvgPool3d(2, stride: 2, padding: 1).Forward(x), 0, 0);
        H.Close(new[] { 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5, 31.5, 32.5, 33.5, 34.5, 35.5, 36.5, 37.5, 38.5, 39.5 },
            new AvgPool3d((1, 2, 1), (1, 2, 1)).Forward(x), 0, 0);
    }

    [Fact]
    public void SinusoidalEncodingHasUnitNormRowsAndRespectsAZeroScale()
    {
        var y = new SinusoidalPositionalEncoding(16, minFreq: 0.01).Forward(Mx.Arange(10));
        Assert.Equal(new[] { 10, 16 }, y.Shape);
        var sim = Mx.Matmul(y, Mx.Transpose(y)).ToArray<float>();
        for (int i = 0; i < 10; i++) Assert.True(Math.Abs(sim[i * 10 + i] - 1) < 1e-5);
        Assert.Equal(new[] { 10, 2 }, new SinusoidalPositionalEncoding(2).Forward(Mx.Arange(10)).Shape);
        Assert.All(new SinusoidalPositionalEncoding(16, scale: 0.0).Forward(Mx.Arange(10)).ToArray<float>(), v => Assert.Equal(0f, v));
        foreach (var d in new[] { 0, 1, 3 }) Assert.Throws<ArgumentException>(() => new SinusoidalPositionalEncoding(d));
    }

    [Fact]
    public void RoPEKeepsFloat16AndALiBiKeepsTheScoresDType()
    {
        var x = Mx.Random.Uniform(new[] { 1, 3, 4 });
        Assert.Equal(DType.Float32, new RoPE(4).Forward(x).DType);
        Assert.Equal(DType.Float16, new RoPE(4).Forward(Mx.AsType(x, DType.Float16), 3).DType);
        var s = Mx.Random.Uniform(new[] { 1, 8, 20, 20 });
        Assert.Equal(new[] { 1, 8, 20, 20 }, new ALiBi().Forward(s).Shape);
        Assert.Equal(DType.Float16, new ALiBi().Forward(Mx.AsType(s, DType.Float16)).DType);
    }
}
