// Test support for tests/test_kafka_acls.py: runs the Kafka command-line tools that a script called, one after the
// other, in this one JVM (a JVM per call made the test take minutes). Each line of the file given is a tool's main
// class and its arguments, tab-separated, as the recording wrappers wrote them. Stops at the first failing call.
//   java -cp 'tools/*:libs/*' RunTools.java CALLS_FILE
import java.io.BufferedReader;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.apache.kafka.common.utils.Exit;

public class RunTools {
    static final class Exited extends RuntimeException {
        final int code;

        Exited(int code) {
            super("exit " + code);
            this.code = code;
        }
    }

    public static void main(String[] argv) throws Exception {
        Exit.setExitProcedure((code, message) -> { throw new Exited(code); });
        Exit.setHaltProcedure((code, message) -> { throw new Exited(code); });
        try (BufferedReader in = Files.newBufferedReader(Path.of(argv[0]))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (line.isBlank()) continue;
                String[] parts = line.split("\t");
                String[] args = Arrays.copyOfRange(parts, 1, parts.length);
                int code = 0;
                try {
                    Class.forName(parts[0]).getMethod("main", String[].class).invoke(null, (Object) args);
                } catch (InvocationTargetException e) {
                    if (e.getCause() instanceof Exited exited) {
                        code = exited.code;
                    } else {
                        e.getCause().printStackTrace();
                        code = 1;
                    }
                }
                if (code != 0) {
                    System.err.println("failed with " + code + ": " + line.replace('\t', ' '));
                    System.exit(code);
                }
            }
        }
        System.exit(0);
    }
}
