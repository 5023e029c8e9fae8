//! Issue 25, item 11: files holding members' personal data (`export --output`, `report failures
//! --csv`) are created 0600 beside the target and renamed over it, never written through a
//! planted link, refuse targets that are not regular files, and leave nothing behind on
//! failure; every CSV cell a spreadsheet could run as a formula is guarded, in the report and
//! the export (CLI and HTTP). The real binary, both databases.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::process::Output;

use crate::both_databases;
use crate::common::{cli, open_fake, said, with_config, write_config, Person, TestDb, BIN};

const EXPORT_TOKEN: &str = "export-token-0123456789";

both_databases!(
    personal_data_files_are_private_and_never_followed,
    csv_cells_cannot_become_formulas
);

fn export_args(target: &Path) -> [&str; 4] {
    [
        "export",
        "DigisAllActive",
        "--output",
        target.to_str().unwrap(),
    ]
}

fn export_to(config: &Path, target: &Path) -> Output {
    cli(config, &export_args(target))
}

fn report_to(config: &Path, target: &Path) -> Output {
    cli(
        config,
        &["report", "failures", "--csv", target.to_str().unwrap()],
    )
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().unwrap().success();
    assert!(ok, "mkfifo {}", p.display());
}

/// Members 1..=5 on subscription 1; member 2's number is a landline, so `run --once` fails it
/// and the report has a row.
async fn members_and_a_failure(db: &TestDb, config: &Path) {
    for id in 1..=5 {
        let mut p = Person::ordinary(id);
        if id == 2 {
            p.mobile_number = Some("08-123 456 78".into());
        }
        db.person_with(&p).await;
    }
    db.active_with(1, &[1, 2, 3, 4, 5]).await;
    let out = cli(config, &["run", "--once"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'failed'")
            .await,
        1
    );
}

async fn personal_data_files_are_private_and_never_followed(db: TestDb) {
    let fake = open_fake().await;
    let config = write_config(&db, &fake.base_url(), "[export]\nlisten = \"\"\n");
    members_and_a_failure(&db, &config).await;
    let out_dir = tempfile::tempdir().unwrap();
    let d = out_dir.path();

    // A planted FILE.partial link: written through before, into the file it names.
    let victim = d.join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, d.join("members.json.partial")).unwrap();
    let target = d.join("members.json");
    let out = export_to(&config, &target);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(mode(&target), 0o600, "the export is readable by others");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4, "{v}");
    // An existing file is replaced by a private one, whatever its mode was.
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = export_to(&config, &target);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(mode(&target), 0o600);
    let report = d.join("failures.csv");
    let out = report_to(&config, &report);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(mode(&report), 0o600);
    assert_eq!(
        names(d),
        [
            "failures.csv",
            "members.json",
            "members.json.partial",
            "victim.txt"
        ]
    );

    // Targets that are not regular files are refused, and nothing is left behind.
    let fifo = d.join("fifo.csv");
    mkfifo(&fifo);
    let folder = d.join("folder");
    std::fs::create_dir(&folder).unwrap();
    let link = d.join("link.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for (target, what) in [
        (&fifo, "a fifo"),
        (&folder, "a folder"),
        (&link, "symbolic link"),
    ] {
        for args in [
            vec!["report", "failures", "--csv", target.to_str().unwrap()],
            vec![
                "export",
                "DigisAllActive",
                "--output",
                target.to_str().unwrap(),
            ],
        ] {
            let out = cli(&config, &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} {}", said(&out));
            assert!(err.contains(what), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
    }
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_symlink()
        .eq(&false));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(
        names(d),
        [
            "failures.csv",
            "fifo.csv",
            "folder",
            "link.csv",
            "members.json",
            "members.json.partial",
            "victim.txt"
        ]
    );
    assert!(names(&folder).is_empty());

    // A long name that fits the file system is written (its `.partial` did not fit).
    let long = d.join(format!("{}.csv", "r".repeat(247)));
    let out = report_to(&config, &long);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(mode(&long), 0o600);
    std::fs::remove_file(&long).unwrap();
    // One too long is one line naming it, and leaves nothing.
    let too_long = d.join(format!("{}.csv", "r".repeat(300)));
    let out = report_to(&config, &too_long);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("too long"),
        "{}",
        said(&out)
    );
    assert!(!err.contains(".partial"), "{err}");

    // A write that fails midway (the file size limit stands in for a full disk) leaves nothing.
    let before = names(d);
    let cut = d.join("cut.json");
    let out = Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$@\"", "sh", BIN])
        .args(["--config", config.to_str().unwrap()])
        .args(export_args(&cut))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", said(&out));
    assert_eq!(names(d), before, "{}", said(&out));
}

async fn csv_cells_cannot_become_formulas(db: TestDb) {
    let mut anna = Person::ordinary(1);
    anna.first_name = Some("=1+1".into());
    anna.last_name = Some("Anna;=2+5".into());
    anna.address = Some((
        "Storgatan 1, -3".into(),
        "111 22".into(),
        "@Stockholm".into(),
        "SE".into(),
    ));
    db.person_with(&anna).await;
    let mut bo = Person::ordinary(2);
    bo.first_name = Some("Bo;+SUM(A1)".into());
    bo.mobile_number = Some("08-123 456 78".into());
    db.person_with(&bo).await;
    db.active_with(1, &[1, 2]).await;
    let fake = open_fake().await;
    let config = write_config(
        &db,
        &fake.base_url(),
        &format!("[export]\ntoken = \"{EXPORT_TOKEN}\"\n"),
    );
    let out = cli(&config, &["run", "--once"]);
    assert!(out.status.success(), "{}", said(&out));
    let d = tempfile::tempdir().unwrap();

    // The export's CSV, from the command line and over HTTP: the same guarded cells.
    let file = d.path().join("members.csv");
    let out = cli(
        &config,
        &[
            "export",
            "DigisAllActive",
            "--format",
            "csv",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", said(&out));
    let cli_csv = std::fs::read(&file).unwrap();
    let svc = crate::common::RunningService::start(&config);
    let http_csv = reqwest::Client::new()
        .get(svc.url("/export/DigisAllActive?format=csv"))
        .bearer_auth(EXPORT_TOKEN)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    svc.stop_gracefully();
    for csv in [&cli_csv[..], &http_csv[..]] {
        let mut r = csv::Reader::from_reader(csv);
        let header = r.headers().unwrap().clone();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        let anna = rows.iter().find(|r| &r[col("ExtInfo4")] == "1").unwrap();
        assert_eq!(&anna[col("FirstName")], "'=1+1");
        assert_eq!(&anna[col("LastName")], "Anna;'=2+5");
        assert_eq!(&anna[col("Address")], "Storgatan 1, '-3");
        assert_eq!(&anna[col("City")], "'@Stockholm");
        // What Digis's import needs stays usable: digits only, never guarded.
        assert_eq!(&anna[col("MobileCountryCode")], "46");
        assert!(anna[col("MobileNumber")]
            .chars()
            .all(|c| c.is_ascii_digit()));
        assert_eq!(&anna[col("ExtInfo20")], "34000001");
    }

    // The report: the name after a separator is guarded too (it was at the start only).
    let report = d.path().join("failures.csv");
    let out = report_to(&config, &report);
    assert!(out.status.success(), "{}", said(&out));
    let mut r = csv::Reader::from_path(&report).unwrap();
    let header = r.headers().unwrap().clone();
    let name = header.iter().position(|h| h == "name").unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert!(rows[0][name].starts_with("Bo;'+SUM(A1)"), "{:?}", &rows[0]);
}

/// Ctrl-C or SIGTERM while the file is written leaves nothing behind (the temporary file is
/// removed). PostgreSQL only, because a lock holds the export's first read for as long as the
/// test needs: the signal always comes midway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_export_leaves_nothing() {
    use sqlx::Connection as _;
    let db = TestDb::postgres().await;
    db.active_with(1, &[1, 2]).await;
    let config = write_config(&db, "http://127.0.0.1:9", "[export]\nlisten = \"\"\n");
    let mut lock = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE person IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("members.json");
    for signal in ["-INT", "-TERM"] {
        let mut child = crate::common::KillOnDrop::spawn(
            with_config(&config)
                .args(["export", "DigisAllActive"])
                .args(["--output", target.to_str().unwrap()])
                .stderr(std::process::Stdio::piped()),
        );
        // The temporary file exists: the export is under way, held by the lock.
        crate::common::eventually(
            "the export's temporary file",
            std::time::Duration::from_secs(30),
            || async { (!names(out_dir.path()).is_empty()).then_some(()) },
        )
        .await;
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(!status.success(), "{signal}: {err}");
        assert!(err.contains("interrupted"), "{signal}: {err}");
        assert!(
            names(out_dir.path()).is_empty(),
            "{signal}: {:?}",
            names(out_dir.path())
        );
    }
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
}
