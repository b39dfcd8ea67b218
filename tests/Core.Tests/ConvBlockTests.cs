namespace Mlx.Core.Tests;

/// <summary>Conv2d forward large enough to span several per-thread row blocks, against a direct double loop.</summary>
public class ConvBlockTests
{
    [Theory]
    [InlineData(9, 23, 21, 8, 5, 3, 1, 1)]   // 4347 output rows of 72 columns: two row blocks
    [InlineData(3, 40, 37, 33, 7, 3, 2, 1)]  // odd channels, stride 2
    public void Conv2dMatchesDirectLoop(int n, int h, int wd, int cin, int cout, int k, int stride, int pad)
    {
        var xv = H.Rand(n * h * wd * cin, 81);
        var wv = H.Rand(cout * k * k * cin, 82);
        var x = Mx.Array(xv, new[] { n, h, wd, cin }, DType.Float32);
        var w = Mx.Array(wv, new[] { cout, k, k, cin }, DType.Float32);
        int oh = (h + 2 * pad - k) / stride + 1, ow = (wd + 2 * pad - k) / stride + 1;
        var expected = new double[n * oh * ow * cout];
        for (int b = 0; b < n; b++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        for (int co = 0; co < cout; co++)
        {
            double s = 0;
            for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++)
            {
                int y = i * stride - pad + ki, z = j * stride - pad + kj;
                if (y < 0 || y >= h || z < 0 || z >= wd) continue;
                for (int ci = 0; ci < cin; ci++)
                {
                    s += (double)(float)xv[((b * h + y) * wd + z) * cin + ci] * (float)wv[((co * k + ki) * k + kj) * cin + ci];
                }
            }
            expected[((b * oh + i) * ow + j) * cout + co] = s;
        }
        H.Close(expected, Mx.Conv2d(x, w, stride, pad), 1e-4, 1e-4);
    }
}
