using System.IO.Compression;

namespace Mlx.Cli;

/// <summary>A small line-chart writer: RGB canvas, polylines, and a PNG encoder (zlib from the BCL).</summary>
internal sealed class Plot
{
    private readonly int _width, _height;
    private readonly byte[] _rgb;

    public Plot(int width, int height)
    {
        (_width, _height) = (width, height);
        _rgb = new byte[width * height * 3];
        Array.Fill(_rgb, (byte)255);
    }

    public void Pixel(int x, int y, (byte R, byte G, byte B) c)
    {
        if ((uint)x >= _width || (uint)y >= _height) return;
        int i = (y * _width + x) * 3;
        (_rgb[i], _rgb[i + 1], _rgb[i + 2]) = (c.R, c.G, c.B);
    }

    public void Line(double x0, double y0, double x1, double y1, (byte, byte, byte) c, int thickness = 2)
    {
        int steps = (int)Math.Max(Math.Abs(x1 - x0), Math.Abs(y1 - y0)) + 1;
        for (int s = 0; s <= steps; s++)
        {
            double t = (double)s / steps;
            int x = (int)Math.Round(x0 + (x1 - x0) * t), y = (int)Math.Round(y0 + (y1 - y0) * t);
            for (int dx = 0; dx < thickness; dx++)
                for (int dy = 0; dy < thickness; dy++)
                    Pixel(x + dx, y + dy, c);
        }
    }

    public void Rect(int x, int y, int w, int h, (byte, byte, byte) c)
    {
        for (int i = 0; i < w; i++)
            for (int j = 0; j < h; j++)
                Pixel(x + i, y + j, c);
    }

    /// <summary>Draws a series scaled into a panel [left, top, width, height] with value range [lo, hi].</summary>
    public void Series(IReadOnlyList<double> values, int left, int top, int width, int height, double lo, double hi, (byte, byte, byte) color)
    {
        Line(left, top + height, left + width, top + height, (0, 0, 0), 1);
        Line(left, top, left, top + height, (0, 0, 0), 1);
        if (values.Count == 0) return;
        double Px(int i) => left + (values.Count == 1 ? width / 2.0 : (double)i * width / (values.Count - 1));
        double Py(double v) => top + height - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * height;
        for (int i = 1; i < values.Count; i++) Line(Px(i - 1), Py(values[i - 1]), Px(i), Py(values[i]), color);
        for (int i = 0; i < values.Count; i++) Rect((int)Px(i) - 2, (int)Py(values[i]) - 2, 5, 5, color);
    }

    public void SavePng(string path)
    {
        var raw = new byte[(_width * 3 + 1) * _height];
        for (int y = 0; y < _height; y++)
        {
            raw[y * (_width * 3 + 1)] = 0;
            Buffer.BlockCopy(_rgb, y * _width * 3, raw, y * (_width * 3 + 1) + 1, _width * 3);
        }
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            z.Write(raw);
        }
        string temp = path + ".tmp";
        using (var f = File.Create(temp))
        {
            f.Write(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
            var ihdr = new byte[13];
            WriteBE(ihdr, 0, (uint)_width);
            WriteBE(ihdr, 4, (uint)_height);
            ihdr[8] = 8;
            ihdr[9] = 2;
            Chunk(f, "IHDR", ihdr);
            Chunk(f, "IDAT", compressed.ToArray());
            Chunk(f, "IEND", Array.Empty<byte>());
        }
        File.Move(temp, path, overwrite: true);
    }

    private static void WriteBE(byte[] b, int o, uint v)
    {
        b[o] = (byte)(v >> 24);
        b[o + 1] = (byte)(v >> 16);
        b[o + 2] = (byte)(v >> 8);
        b[o + 3] = (byte)v;
    }

    private static void Chunk(System.IO.Stream s, string type, byte[] data)
    {
        var len = new byte[4];
        WriteBE(len, 0, (uint)data.Length);
        s.Write(len);
        var body = new byte[4 + data.Length];
        System.Text.Encoding.ASCII.GetBytes(type, 0, 4, body, 0);
        Buffer.BlockCopy(data, 0, body, 4, data.Length);
        s.Write(body);
        var crc = new byte[4];
        WriteBE(crc, 0, Crc(body));
        s.Write(crc);
    }

    private static uint Crc(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFF;
    }
}
