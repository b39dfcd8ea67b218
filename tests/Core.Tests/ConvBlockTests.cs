namespace Mlx.Core.Tests;

/// <summary>
/// Conv2d forward against a direct double loop: large enough to span both threads, and shaped to hit the implicit
/// GEMM's direct tiles, border and row-crossing gathered tiles, partial weight panels and the im2col fallback.
/// </summary>
public class ConvBlockTests
{
    [Theory]
    [InlineData(9, 23, 21, 8, 5, 3, 1, 1, 1)]     // runs of 24 channels: every tile gathered
    [InlineData(3, 40, 37, 33, 7, 3, 2, 1, 1)]    // odd channels, stride 2
    [InlineData(1, 13, 11, 37, 19, 3, 1, 1, 1)]   // batch 1, odd sizes, a partial weight panel
    [InlineData(3, 9, 17, 40, 70, 3, 1, 2, 1)]    // padding 2, two weight panels (the second partial)
    [InlineData(3, 8, 10, 24, 16, 3, 1, 0, 1)]    // no padding
    [InlineData(2, 12, 14, 48, 20, 3, 1, 2, 2)]   // dilation 2: one run per kernel offset
    [InlineData(2, 11, 13, 35, 9, 3, 2, 2, 2)]    // stride 2 and dilation 2
    [InlineData(1, 6, 14, 64, 3, 5, 1, 2, 1)]     // 5x5 kernel: tiles whose first kernel rows are all padding
    [InlineData(1, 12, 12, 512, 8, 3, 1, 1, 1)]   // a packed weight panel past L2: the im2col fallback
    public void Conv2dMatchesDirectLoop(int n, int h, int wd, int cin, int cout, int k, int stride, int pad, int dil)
    {
        var xv = H.Rand(n * h * wd * cin, 81);
        var wv = H.Rand(cout * k * k * cin, 82);
        var x = Mx.Array(xv, new[] { n, h, wd, cin }, DType.Float32);
        var w = Mx.Array(wv, new[] { cout, k, k, cin }, DType.Float32);
        int span = dil * (k - 1) + 1;
        int oh = (h + 2 * pad - span) / stride + 1, ow = (wd + 2 * pad - span) / stride + 1;
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
                int y = i * stride - pad + ki * dil, z = j * stride - pad + kj * dil;
                if (y < 0 || y >= h || z < 0 || z >= wd) continue;
                for (int ci = 0; ci < cin; ci++)
                {
                    s += (double)(float)xv[((b * h + y) * wd + z) * cin + ci] * (float)wv[((co * k + ki) * k + kj) * cin + ci];
                }
            }
            expected[((b * oh + i) * ow + j) * cout + co] = s;
        }
        H.Close(expected, Mx.Conv2d(x, w, stride, pad, dil), 1e-4, 1e-4);
    }
}
