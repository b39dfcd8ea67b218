using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

public class ConvolutionLayerTests
{
    [Fact]
    public void Conv3dMatchesADirectLoop()
    {
        int n = 1, d = 4, h = 3, w = 4, cin = 2, cout = 3, k = 2, stride = 2, pad = 1;
        var conv = new Conv3d(cin, cout, k, stride: stride, padding: pad);
        Assert.Equal(new[] { "weight", "bias" }, conv.Parameters().Keys.ToArray());
        Assert.Equal(new[] { cout, k, k, k, cin }, conv.Parameters()["weight"].Shape);
        var p = L.Randomize(conv, 20);
        var x = H.Rand(n * d * h * w * cin, 21);
        var y = conv.Forward(L.A(x, n, d, h, w, cin));
        int od = (d + 2 * pad - k) / stride + 1, oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        Assert.Equal(new[] { n, od, oh, ow, cout }, y.Shape);
        var expected = new double[od * oh * ow * cout];
        for (int a = 0; a < od; a++)
        for (int b = 0; b < oh; b++)
        for (int c = 0; c < ow; c++)
        for (int o = 0; o < cout; o++)
        {
            double s = p["bias"][o];
            for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            for (int l = 0; l < k; l++)
            {
                int zi = a * stride - pad + i, yi = b * stride - pad + j, xi = c * stride - pad + l;
                if (zi < 0 || zi >= d || yi < 0 || yi >= h || xi < 0 || xi >= w) continue;
                for (int ci = 0; ci < cin; ci++)
                {
                    s += x[((zi * h + yi) * w + xi) * cin + ci] * p["weight"][(((o * k + i) * k + j) * k + l) * cin + ci];
                }
            }
            expected[((a * oh + b) * ow + c) * cout + o] = s;
        }
        H.Close(expected, y, 1e-10, 1e-10);
    }

    [Theory]
    [InlineData(1, 0, 1, 0)]
    [InlineData(2, 1, 1, 1)]
    [InlineData(3, 0, 2, 0)]
    public void ConvTranspose1dScattersEveryInputThroughTheKernel(int stride, int padding, int dilation, int outputPadding)
    {
        int n = 2, len = 4, cin = 3, cout = 2, k = 3;
        var conv = new ConvTranspose1d(cin, cout, k, stride, padding, dilation, outputPadding);
        Assert.Equal(new[] { cout, k, cin }, conv.Parameters()["weight"].Shape);
        var p = L.Randomize(conv, 30);
        var x = H.Rand(n * len * cin, 31);
        var y = conv.Forward(L.A(x, n, len, cin));
        int outLen = (len - 1) * stride - 2 * padding + dilation * (k - 1) + outputPadding + 1;
        Assert.Equal(new[] { n, outLen, cout }, y.Shape);
        var expected = new double[n * outLen * cout];
        for (int b = 0; b < n; b++)
        {
            for (int t = 0; t < outLen; t++) for (int o = 0; o < cout; o++) expected[(b * outLen + t) * cout + o] = p["bias"][o];
            for (int i = 0; i < len; i++)
            for (int j = 0; j < k; j++)
            {
                int t = i * stride + j * dilation - padding;
                if (t < 0 || t >= outLen) continue;
                for (int o = 0; o < cout; o++)
                for (int c = 0; c < cin; c++)
                    expected[(b * outLen + t) * cout + o] += x[(b * len + i) * cin + c] * p["weight"][(o * k + j) * cin + c];
            }
        }
        H.Close(expected, y, 1e-10, 1e-10);
    }

    [Fact]
    public void ConvTranspose2dAnd3dScatterAsTheLoop()
    {
        int h = 3, w = 2, cin = 2, cout = 2, k = 2, s = 2;
        var conv = new ConvTranspose2d(cin, cout, k, stride: s, bias: false);
        Assert.Equal(new[] { "weight" }, conv.Parameters().Keys.ToArray());
        var p = L.Randomize(conv, 40);
        var x = H.Rand(h * w * cin, 41);
        var y = conv.Forward(L.A(x, 1, h, w, cin));
        int oh = (h - 1) * s + k, ow = (w - 1) * s + k;
        Assert.Equal(new[] { 1, oh, ow, cout }, y.Shape);
        var expected = new double[oh * ow * cout];
        for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
        for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++)
        for (int o = 0; o < cout; o++)
        for (int c = 0; c < cin; c++)
            expected[((i * s + a) * ow + j * s + b) * cout + o] += x[(i * w + j) * cin + c] * p["weight"][((o * k + a) * k + b) * cin + c];
        H.Close(expected, y, 1e-10, 1e-10);

        var c3 = new ConvTranspose3d(2, 3, 3, stride: 2, padding: 1, outputPadding: 1);
        Assert.Equal(new[] { 3, 3, 3, 3, 2 }, c3.Parameters()["weight"].Shape);
        Assert.Equal(new[] { 1, 4, 6, 2, 3 }, c3.Forward(Mx.Ones(new[] { 1, 2, 3, 1, 2 })).Shape);
    }

    [Fact]
    public void Pool3dTakesMaxAndMeanOfWindows()
    {
        int d = 3, h = 4, w = 3, c = 2;
        var x = H.Rand(d * h * w * c, 50);
        var input = L.A(x, 1, d, h, w, c);
        var mx = new MaxPool3d(2, stride: 1).Forward(input);
        var avg = new AvgPool3d((2, 2, 1), (1, 2, 1)).Forward(input);
        Assert.Equal(new[] { 1, 2, 3, 2, c }, mx.Shape);
        Assert.Equal(new[] { 1, 2, 2, 3, c }, avg.Shape);
        double X(int i, int j, int l, int ch) => x[((i * h + j) * w + l) * c + ch];
        var eMax = new List<double>();
        for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int l = 0; l < 2; l++) for (int ch = 0; ch < c; ch++)
        {
            double m = double.NegativeInfinity;
            for (int a = 0; a < 2; a++) for (int b = 0; b < 2; b++) for (int e = 0; e < 2; e++) m = Math.Max(m, X(i + a, j + b, l + e, ch));
            eMax.Add(m);
        }
        H.Close(eMax, mx, 0, 0);
        var eAvg = new List<double>();
        for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) for (int l = 0; l < 3; l++) for (int ch = 0; ch < c; ch++)
        {
            double s = 0;
            for (int a = 0; a < 2; a++) for (int b = 0; b < 2; b++) s += X(i + a, 2 * j + b, l, ch);
            eAvg.Add(s / 4);
        }
        H.Close(eAvg, avg, 1e-12, 1e-12);
        // Padding pads max pooling with -inf.
        var padded = new MaxPool3d(2, padding: 1).Forward(input);
        Assert.Equal(new[] { 1, 2, 3, 2, c }, padded.Shape);
        Assert.Equal(X(0, 0, 0, 0), padded.ToArray<double>()[0]);
    }

    [Fact]
    public void Dropout2dAnd3dDropWholeChannels()
    {
        Mx.Random.Seed(3);
        var x = Mx.Ones(new[] { 4, 5, 6, 16 });
        var y = new Dropout2d(0.5).Forward(x).ToArray<float>();
        int kept = 0;
        for (int b = 0; b < 4; b++)
        for (int ch = 0; ch < 16; ch++)
        {
            float first = y[b * 5 * 6 * 16 + ch];
            Assert.True(first == 0f || first == 2f);
            if (first != 0) kept++;
            for (int s = 0; s < 30; s++) Assert.Equal(first, y[(b * 30 + s) * 16 + ch]);
        }
        Assert.InRange(kept, 16, 48);
        var d2 = new Dropout2d(0.5);
        d2.Eval();
        Assert.Same(x, d2.Forward(x));
        var y3 = new Dropout3d(0.25).Forward(Mx.Ones(new[] { 2, 3, 4, 8 })).ToArray<float>();
        for (int ch = 0; ch < 8; ch++)
        {
            float first = y3[ch];
            Assert.True(first == 0f || Math.Abs(first - 1 / 0.75f) < 1e-6);
            for (int s = 0; s < 2 * 3 * 4; s++) Assert.Equal(first, y3[s * 8 + ch]);
        }
        Assert.Throws<ArgumentException>(() => new Dropout2d(1.0));
        Assert.Throws<ArgumentException>(() => new Dropout3d().Forward(Mx.Ones(new[] { 2, 3, 4 })));
    }
}

public class ConvolutionInitTests
{
    [Fact]
    public void ConvWeightsAreUniformWithMlxScaleFromAllInputChannels()
    {
        // MLX: scale = sqrt(1 / (in_channels * prod(kernel))), whatever the groups.
        var w1 = new Conv1d(8, 4, 3, groups: 4).Parameters()["weight"];
        Assert.Equal(new[] { 4, 3, 2 }, w1.Shape);
        Assert.True(Mx.Max(Mx.Abs(w1)).Item<float>() <= Math.Sqrt(1.0 / 24));
        var w2 = new Conv2d(16, 16, 3, groups: 16).Parameters()["weight"];
        Assert.True(Mx.Max(Mx.Abs(w2)).Item<float>() <= Math.Sqrt(1.0 / (16 * 9)));
        var w3 = new Conv3d(4, 8, 2).Parameters()["weight"];
        Assert.True(Mx.Max(Mx.Abs(w3)).Item<float>() <= Math.Sqrt(1.0 / 32));
        Assert.True(Mx.Max(Mx.Abs(w3)).Item<float>() > 0.9 * Math.Sqrt(1.0 / 32));
    }
}
