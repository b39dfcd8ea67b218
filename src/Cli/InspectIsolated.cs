using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mlx.Formats;
using Mlx.Formats.Trust;

namespace Mlx.Cli;

/// <summary><c>mlx inspect --isolated</c>: the file is parsed in a limited child process; only its tensors come back.</summary>
internal static class InspectIsolated
{
    public static string Describe(string path, bool json)
    {
        List<TensorData> tensors = IsolatedLoader.Load(path);
        var hashes = tensors.Select(t => Convert.ToHexStringLower(SHA256.HashData(t.Data.Span))).ToList();
        if (json)
        {
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("file", path);
                w.WriteString("format", "isolated");
                w.WriteStartObject("metadata");
                w.WriteEndObject();
                w.WriteStartArray("tensors");
                for (int i = 0; i < tensors.Count; i++)
                {
                    TensorData t = tensors[i];
                    w.WriteStartObject();
                    w.WriteString("name", t.Name);
                    w.WriteString("dtype", t.DType.MlxName());
                    w.WriteStartArray("shape");
                    foreach (long d in t.Shape)
                    {
                        w.WriteNumberValue(d);
                    }
                    w.WriteEndArray();
                    w.WriteNumber("bytes", t.Data.Length);
                    w.WriteString("sha256", hashes[i]);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
        }
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{path}: isolated load, {tensors.Count} tensor(s) (converted dtypes; metadata not transferred)");
        for (int i = 0; i < tensors.Count; i++)
        {
            TensorData t = tensors[i];
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {(t.Name.Length == 0 ? "(array)" : t.Name)}  {t.DType.MlxName()}  [{string.Join(", ", t.Shape)}]  {t.Data.Length}  {hashes[i][..16]}");
        }
        return sb.ToString();
    }
}
