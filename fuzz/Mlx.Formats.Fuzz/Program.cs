using System.Diagnostics;
using SharpFuzz;

namespace Mlx.Formats.Fuzz;

/// <summary>
/// Fuzz harness for the Mlx.Formats readers. The property under test: whatever the bytes, opening a file
/// and reading every tensor either succeeds or throws <see cref="ModelFormatException"/>; any other
/// exception (or a hang, or a crash) is a finding.
/// <code>
///   Mlx.Formats.Fuzz afl EXT                 one input per run from stdin, under afl-fuzz + SharpFuzz
///   Mlx.Formats.Fuzz mutate DIR SECONDS      random mutations of every file in DIR, no AFL needed
///   Mlx.Formats.Fuzz run FILE...             replay inputs (e.g. AFL crashes) and report
/// </code>
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "afl")
        {
            string extension = "." + args[1].TrimStart('.');
            string path = Path.Combine(Path.GetTempPath(), $"mlx-fuzz-{Environment.ProcessId}{extension}");
            Fuzzer.OutOfProcess.Run(stream =>
            {
                using (var file = File.Create(path))
                {
                    stream.CopyTo(file);
                }
                ReadAll(path);
            });
            return 0;
        }
        if (args.Length == 3 && args[0] == "mutate" && double.TryParse(args[2], out double seconds))
        {
            return Mutate(args[1], TimeSpan.FromSeconds(seconds));
        }
        if (args.Length >= 2 && args[0] == "run")
        {
            int failures = 0;
            foreach (string file in args.Skip(1))
            {
                failures += Check(file) ? 0 : 1;
            }
            return failures == 0 ? 0 : 1;
        }
        Console.Error.WriteLine("usage: Mlx.Formats.Fuzz afl EXT | mutate DIR SECONDS | run FILE...");
        return 2;
    }

    /// <summary>Opens the file and reads every tensor; refusals are the expected outcome, so they are swallowed.</summary>
    private static void ReadAll(string path)
    {
        try
        {
            using ModelFile file = ModelFile.Open(path);
            foreach (TensorEntry t in file.Tensors)
            {
                if (t.ByteLength > 1 << 26)
                {
                    continue;
                }
                file.ReadRawBytes(t);
                if (t.DType is not null)
                {
                    file.ReadTensor(t);
                }
                else if (t.GgmlType is { } type && GgufQuantization.ConversionFor(type) != GgufConversion.Unsupported)
                {
                    file.DequantizeToFloat32(t);
                }
            }
        }
        catch (ModelFormatException)
        {
        }
    }

    private static bool Check(string path)
    {
        try
        {
            ReadAll(path);
            return true;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{path}: {e.GetType().Name}: {e.Message}");
            return false;
        }
    }

    private static int Mutate(string seedDir, TimeSpan duration)
    {
        string[] seeds = Directory.GetFiles(seedDir, "*", SearchOption.AllDirectories);
        string work = Path.Combine(Path.GetTempPath(), "mlx-fuzz-mutate-" + Environment.ProcessId);
        string crashes = Path.Combine(Directory.GetCurrentDirectory(), "crashes");
        Directory.CreateDirectory(work);
        var random = new Random();
        var clock = Stopwatch.StartNew();
        long runs = 0, found = 0;
        while (clock.Elapsed < duration)
        {
            string seed = seeds[random.Next(seeds.Length)];
            byte[] input = Mutation.Apply(File.ReadAllBytes(seed), random);
            string path = Path.Combine(work, "input" + Path.GetExtension(seed));
            File.WriteAllBytes(path, input);
            var single = Stopwatch.StartNew();
            bool ok = Check(path);
            if (!ok || single.Elapsed > TimeSpan.FromSeconds(2))
            {
                Directory.CreateDirectory(crashes);
                string saved = Path.Combine(crashes, $"{(ok ? "slow" : "crash")}-{runs}{Path.GetExtension(seed)}");
                File.WriteAllBytes(saved, input);
                Console.Error.WriteLine($"saved {saved}");
                found++;
            }
            runs++;
        }
        Console.WriteLine($"{runs} inputs, {found} findings, {clock.Elapsed.TotalSeconds:F0} s");
        return found == 0 ? 0 : 1;
    }
}

/// <summary>Byte-level mutations biased toward what breaks parsers: extreme integers, truncation, structural characters.</summary>
internal static class Mutation
{
    private static readonly ulong[] s_extremes = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, long.MaxValue, ulong.MaxValue, 1UL << 40, 1UL << 63];

    public static byte[] Apply(byte[] original, Random random)
    {
        var data = new List<byte>(original);
        int edits = 1 + random.Next(6);
        for (int e = 0; e < edits && data.Count > 0; e++)
        {
            int at = random.Next(data.Count);
            switch (random.Next(8))
            {
                case 0:
                    data[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    data[at] = (byte)random.Next(256);
                    break;
                case 2:
                    byte[] v = BitConverter.GetBytes(s_extremes[random.Next(s_extremes.Length)]);
                    int width = new[] { 1, 2, 4, 8 }[random.Next(4)];
                    for (int i = 0; i < width && at + i < data.Count; i++)
                    {
                        data[at + i] = v[i];
                    }
                    break;
                case 3:
                    data.RemoveRange(at, Math.Min(data.Count - at, 1 + random.Next(32)));
                    break;
                case 4:
                    data.InsertRange(at, Enumerable.Range(0, 1 + random.Next(32)).Select(_ => (byte)random.Next(256)));
                    break;
                case 5:
                    data.RemoveRange(at, data.Count - at);
                    break;
                case 6:
                    // Duplicate a chunk: repeated keys, members and tensor infos.
                    int length = Math.Min(data.Count - at, 1 + random.Next(64));
                    data.InsertRange(random.Next(data.Count), data.GetRange(at, length));
                    break;
                default:
                    data[at] = (byte)"{}[](),:'\"0123456789-eE."[random.Next(24)];
                    break;
            }
        }
        return data.ToArray();
    }
}
