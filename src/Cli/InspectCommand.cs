using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mlx.Formats;

namespace Mlx.Cli;

/// <summary>
/// <c>mlx inspect [--json] FILE...</c>: describes model files, including tensor types that loading would
/// not convert. Exit 0 when every file was read, 2 on a usage error, 3 when any file was refused
/// (one line per such file on stderr: <c>mlx: FILE: reason</c>).
/// </summary>
internal static class InspectCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        bool json = false;
        bool isolated = false;
        var files = new List<string>();
        bool optionsDone = false;
        foreach (string arg in args)
        {
            if (!optionsDone && arg == "--")
            {
                optionsDone = true;
            }
            else if (!optionsDone && arg == "--json")
            {
                json = true;
            }
            else if (!optionsDone && arg == "--isolated")
            {
                isolated = true;
            }
            else if (!optionsDone && arg is "-h" or "--help")
            {
                stdout.WriteLine("usage: mlx inspect [--json] [--isolated] FILE...");
                return ExitCodes.Ok;
            }
            else if (!optionsDone && arg.StartsWith('-') && arg != "-")
            {
                stderr.WriteLine($"mlx: inspect: unknown option '{arg}'");
                stderr.WriteLine("usage: mlx inspect [--json] [--isolated] FILE...");
                return ExitCodes.Usage;
            }
            else
            {
                files.Add(arg);
            }
        }
        if (files.Count == 0)
        {
            stderr.WriteLine("usage: mlx inspect [--json] [--isolated] FILE...");
            return ExitCodes.Usage;
        }
        int exit = ExitCodes.Ok;
        foreach (string file in files)
        {
            try
            {
                // Render fully before writing so a file that fails half-way prints nothing partial.
                string text = isolated ? InspectIsolated.Describe(file, json) : Describe(file, json);
                stdout.Write(text);
            }
            catch (ModelFormatException e)
            {
                stderr.WriteLine($"mlx: {file}: {e.Message}");
                exit = ExitCodes.BadFile;
            }
            catch (Mlx.Formats.Trust.PathRefusedException e)
            {
                stderr.WriteLine($"mlx: {e.Message}");
                exit = exit == ExitCodes.Ok ? ExitCodes.PathRefused : exit;
            }
            catch (Mlx.Formats.Trust.ModelTrustException e)
            {
                stderr.WriteLine($"mlx: {e.Message}");
                exit = ExitCodes.BadFile;
            }
        }
        return exit;
    }

    private static string Describe(string path, bool json)
    {
        using ModelFile file = ModelFile.Open(path);
        var hashes = file.Tensors.Select(t => Sha256(file, t)).ToList();
        return json ? DescribeJson(path, file, hashes) : DescribeTable(path, file, hashes);
    }

    private static string Sha256(ModelFile file, TensorEntry tensor)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[(int)Math.Min(tensor.ByteLength, 1 << 20)];
        for (long done = 0; done < tensor.ByteLength;)
        {
            int n = (int)Math.Min(buffer.Length, tensor.ByteLength - done);
            file.ReadRawBytes(tensor, done, buffer.AsSpan(0, n));
            hash.AppendData(buffer, 0, n);
            done += n;
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static string DescribeJson(string path, ModelFile file, List<string> hashes)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("file", path);
            w.WriteString("format", ModelFileFormats.Name(file.Format));
            w.WriteStartObject("metadata");
            foreach ((string key, MetadataValue value) in file.Metadata)
            {
                w.WritePropertyName(key);
                WriteValue(w, value);
            }
            w.WriteEndObject();
            w.WriteStartArray("tensors");
            for (int i = 0; i < file.Tensors.Count; i++)
            {
                TensorEntry t = file.Tensors[i];
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteString("dtype", t.TypeName);
                w.WriteStartArray("shape");
                foreach (long d in t.Shape)
                {
                    w.WriteNumberValue(d);
                }
                w.WriteEndArray();
                w.WriteNumber("bytes", t.ByteLength);
                w.WriteString("sha256", hashes[i]);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void WriteValue(Utf8JsonWriter w, MetadataValue v)
    {
        if (v.Kind == MetadataKind.Array)
        {
            w.WriteStartArray();
            for (int i = 0; i < v.Count; i++)
            {
                WriteValue(w, v.ElementAt(i));
            }
            w.WriteEndArray();
            return;
        }
        switch (v.Kind)
        {
            case MetadataKind.String:
                w.WriteStringValue(v.AsString());
                break;
            case MetadataKind.Bool:
                w.WriteBooleanValue(v.AsBool());
                break;
            case MetadataKind.Float32 or MetadataKind.Float64:
                double d = v.AsDouble();
                if (double.IsFinite(d))
                {
                    w.WriteNumberValue(d);
                }
                else
                {
                    // JSON has no NaN or infinity; keep the value visible as a string.
                    w.WriteStringValue(d.ToString(CultureInfo.InvariantCulture));
                }
                break;
            case MetadataKind.UInt64:
                w.WriteNumberValue(v.AsUInt64());
                break;
            default:
                w.WriteNumberValue(v.AsInt64());
                break;
        }
    }

    private static string DescribeTable(string path, ModelFile file, List<string> hashes)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{path}: {ModelFileFormats.Name(file.Format)}, {file.Tensors.Count} tensor(s), {file.Metadata.Count} metadata entr{(file.Metadata.Count == 1 ? "y" : "ies")}");
        if (file.Metadata.Count > 0)
        {
            sb.AppendLine("  metadata:");
            foreach ((string key, MetadataValue value) in file.Metadata)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"    {key} = {OneLine(value.ToDisplayString(), 120)}");
            }
        }
        if (file.Tensors.Count > 0)
        {
            var rows = file.Tensors.Select((t, i) => new[]
            {
                t.Name.Length == 0 ? "(array)" : t.Name,
                t.TypeName,
                "[" + string.Join(", ", t.Shape) + "]",
                t.ByteLength.ToString(CultureInfo.InvariantCulture),
                hashes[i][..16],
            }).ToList();
            string[] titles = ["name", "dtype", "shape", "bytes", "sha256"];
            int[] widths = titles.Select((h, c) => Math.Max(h.Length, rows.Max(r => r[c].Length))).ToArray();
            sb.AppendLine("  " + string.Join("  ", titles.Select((h, c) => h.PadRight(widths[c]))).TrimEnd());
            foreach (string[] row in rows)
            {
                sb.AppendLine("  " + string.Join("  ", row.Select((v, c) => c == 3 ? v.PadLeft(widths[c]) : v.PadRight(widths[c]))).TrimEnd());
            }
        }
        return sb.ToString();
    }

    private static string OneLine(string s, int max)
    {
        string flat = s.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
        return flat.Length <= max ? flat : flat[..max] + "...";
    }
}
